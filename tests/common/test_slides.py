"""The slide reader, tissue grid and pyramid writer, checked with OpenSlide and tifffile (independent
readers) on small slides written in OpenSlide's generic-tiff layout."""

import pickle

import numpy as np
import openslide
import pytest
import tifffile

from common.data import pyramid, slides

MPP = 0.5


def _pieces(seed=0):
  rng = np.random.default_rng(seed)
  # tissue-like pieces: purple-pink texture, far from the glass colour
  out = []
  for h, w in [(200, 300), (260, 180), (150, 150)]:
    base = np.array([150, 90, 170], np.float32) + rng.normal(0, 25, (h, w, 3))
    out.append(np.clip(base, 0, 255).astype(np.uint8))
  return out


@pytest.fixture(scope="module")
def slide_file(tmp_path_factory):
  p = str(tmp_path_factory.mktemp("slide") / "s.tiff")
  placed = slides.write_synthetic(p, _pieces(), (700, 1100), mpp=MPP, seed=3, tile=128)
  return p, placed


def test_pyramid_opens_in_openslide_and_levels_are_box_means(tmp_path):
  rng = np.random.default_rng(0)
  a = rng.integers(0, 256, (333, 517, 3), dtype=np.uint8)  # odd sizes
  p = str(tmp_path / "o.tiff")
  sizes = pyramid.write_pyramid(
    p, lambda y0, y1: a[y0:y1], a.shape, tile=64, mpp=0.25, scratch=str(tmp_path / "scr")
  )
  s = openslide.OpenSlide(p)
  assert s.properties["openslide.vendor"] == "generic-tiff"
  assert float(s.properties["openslide.mpp-x"]) == pytest.approx(0.25)
  assert [d[::-1] for d in s.level_dimensions] == sizes
  assert sizes[:3] == [(333, 517), (167, 259), (84, 130)] and max(sizes[-1]) <= 64
  want = a.astype(np.float64)
  for k in range(s.level_count):
    got = np.asarray(s.read_region((0, 0), k, s.level_dimensions[k]))[..., :3]
    np.testing.assert_array_equal(got, want.astype(np.uint8))
    # the next level, independently: edge-replicated 2x2 means, rounded half up
    h, w = want.shape[:2]
    e = np.pad(want, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    want = np.floor((e[0::2, 0::2] + e[1::2, 0::2] + e[0::2, 1::2] + e[1::2, 1::2]) / 4 + 0.5)
  with tifffile.TiffFile(p) as tf:  # every level tiled, reduced levels marked as such
    assert all(pg.is_tiled for pg in tf.pages)
    assert [int(pg.subfiletype) for pg in tf.pages] == [0] + [1] * (len(tf.pages) - 1)
  assert not list(tmp_path.glob("scr*")) and not list(tmp_path.glob(".o.tmp*"))


def test_pyramid_grey_and_jpeg(tmp_path):
  rng = np.random.default_rng(1)
  g = rng.integers(0, 256, (200, 300, 1), dtype=np.uint8)
  pyramid.write_pyramid(
    str(tmp_path / "g.tiff"), lambda y0, y1: g[y0:y1], g.shape, tile=64, scratch=str(tmp_path / "s")
  )
  r = np.asarray(openslide.OpenSlide(str(tmp_path / "g.tiff")).read_region((0, 0), 0, (300, 200)))
  np.testing.assert_array_equal(r[..., 0], g[..., 0])
  smooth = np.repeat(np.repeat(rng.integers(60, 200, (7, 10, 3)), 32, 0), 32, 1)[:200, :304].astype(
    np.uint8
  )
  pyramid.write_pyramid(
    str(tmp_path / "j.tiff"),
    lambda y0, y1: smooth[y0:y1],
    smooth.shape,
    tile=64,
    compression="jpeg",
    quality=95,
    scratch=str(tmp_path / "s"),
  )
  r = np.asarray(openslide.OpenSlide(str(tmp_path / "j.tiff")).read_region((0, 0), 0, (304, 200)))
  assert np.abs(r[..., :3].astype(int) - smooth).mean() < 2


def test_slide_reads_like_openslide_and_tifffile(slide_file):
  path, placed = slide_file
  s = slides.Slide(path)
  assert s.mpp == pytest.approx(MPP) and s.vendor == "generic-tiff"
  assert s.dimensions[0] == (1100, 700) and s.level_count >= 3
  with tifffile.TiffFile(path) as tf:
    lv1 = tf.pages[1].asarray()
  # level 1, an odd region, in level-1 pixels
  np.testing.assert_array_equal(s.read(1, 37, 21, 101, 77), lv1[21:98, 37:138])
  ref = np.asarray(openslide.OpenSlide(path).read_region((74, 42), 1, (101, 77)))[..., :3]
  np.testing.assert_array_equal(s.read(1, 37, 21, 101, 77), ref)
  # past the slide's edge: white glass
  out = s.read(0, 1050, 650, 100, 100)
  assert np.all(out[60:, :] == 255) and np.all(out[:, 60:] == 255)
  assert s.level_for(mpp=1.0) == 1 and s.level_for(level=2) == 2 and s.level_for() == 0
  with pytest.raises(slides.SlideError, match="no level at 0.3 um/px"):
    s.level_for(mpp=0.3)
  with pytest.raises(slides.SlideError, match="no level 9"):
    s.level_for(level=9)
  assert pickle.loads(pickle.dumps(s)).read(0, 5, 5, 3, 3).shape == (3, 3, 3)


def test_tissue_grid_covers_the_pieces_and_no_glass(slide_file):
  path, placed = slide_file
  s, g, _ = slides.open_grid(path, 128)
  want_any = np.zeros_like(g.tissue)  # tiles a piece overlaps at all
  want_core = np.zeros_like(g.tissue)  # tiles a piece covers by >= 4x4 pixels
  for y, x, h, w in placed:
    for r in range(g.rows):
      for c in range(g.cols):
        dy = min(y + h, (r + 1) * 128) - max(y, r * 128)
        dx = min(x + w, (c + 1) * 128) - max(x, c * 128)
        want_any[r, c] |= dy > 0 and dx > 0
        want_core[r, c] |= dy >= 4 and dx >= 4
  assert np.all(g.tissue[want_core]) and not np.any(g.tissue[~want_any])
  np.testing.assert_allclose(g.glass, [242, 241, 246], atol=2)
  # the richest tiles are tissue tiles
  assert all(g.tissue[y // 128, x // 128] for y, x in g.richest(3))
  src = slides.SlideTiles([path], 128)
  assert len(src) == int(g.tissue.sum())
  item = pickle.loads(pickle.dumps(src))[2]
  x, y = item["coords"]
  ref = np.asarray(openslide.OpenSlide(path).read_region((int(x), int(y)), 0, (128, 128)))
  np.testing.assert_array_equal(item["image"], np.where(ref[..., 3:] == 0, 255, ref[..., :3]))
  assert item["mpp"] == pytest.approx(MPP)
  # at level 1 (1.0 um/px) the grid halves
  _, g1, _ = slides.open_grid(path, 128, mpp=1.0)
  assert g1.level == 1 and g1.shape == (350, 550)


def test_bad_slides_say_what_is_wrong(tmp_path):
  glass = str(tmp_path / "glass.tiff")
  slides.write_synthetic(glass, [], (300, 400), tile=64)
  with pytest.raises(slides.SlideError, match="no tissue"):
    slides.open_grid(glass, 64)
  dark = str(tmp_path / "dark.tiff")
  slides.write_synthetic(dark, _pieces()[:1], (300, 400), tile=64, glass=(5, 5, 8))
  with pytest.raises(slides.SlideError, match="fluorescence"):
    slides.open_grid(dark, 64)
  multi = str(tmp_path / "multi.tif")
  tifffile.imwrite(
    multi, np.zeros((256, 256, 5), np.uint8), tile=(64, 64), photometric="minisblack"
  )
  assert slides.is_slide(multi)  # OpenSlide opens it, as RGBA of who knows what
  with pytest.raises(slides.SlideError, match="not an 8-bit RGB brightfield"):
    slides.Slide(multi)
  broken = tmp_path / "cut.svs"
  broken.write_bytes(b"II*\x00" + b"\x00" * 100)
  assert slides.is_slide_path(str(broken)) and slides.list_slides(str(tmp_path))
  with pytest.raises(slides.SlideError, match="OpenSlide cannot open it"):
    slides.Slide(str(broken))
  strip = str(tmp_path / "strip.tif")
  tifffile.imwrite(strip, np.zeros((64, 64, 3), np.uint8))
  assert not slides.is_slide(strip)  # a plain TIFF is an image, read as one
