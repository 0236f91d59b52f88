"""Emoji render in colour in the room page, as people see them, not as empty boxes: the
browser tests run with a colour emoji font (bin/test installs Debian's
fonts-noto-color-emoji), so the screenshots show the real page."""

from __future__ import annotations

import base64

import pytest

from tests.browser.helpers import make_room, message, post, wait_live

pytestmark = pytest.mark.server

# How many pixels of a screenshot (a PNG, drawn on a canvas in the page) are clearly
# coloured: a channel far from the others. Text in the page's colours is grey.
COLOURED_PIXELS = """
async (png) => {
  const image = new Image();
  image.src = "data:image/png;base64," + png;
  await image.decode();
  const canvas = document.createElement("canvas");
  canvas.width = image.width;
  canvas.height = image.height;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const { data } = context.getImageData(0, 0, image.width, image.height);
  let coloured = 0;
  for (let i = 0; i < data.length; i += 4) {
    const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
    if (Math.max(r, g, b) - Math.min(r, g, b) > 80) coloured += 1;
  }
  return coloured;
}
"""


def coloured_pixels(page, element) -> int:
    png = base64.b64encode(element.screenshot()).decode()
    return int(page.evaluate(COLOURED_PIXELS, png))


def test_an_emoji_in_a_message_renders_in_colour(browsing, user, artifacts):
    alice = user("alice")
    make_room(alice, "general")
    post(alice, "plain words only")
    post(alice, "party \N{PARTY POPPER}\N{GRINNING FACE}\N{RED APPLE}")
    page = browsing.page_for(alice, "/rooms/general/")
    wait_live(page)
    body = message(page, "party").locator(".body")
    page.screenshot(path=artifacts / "emoji.png")
    # The emoji are drawn with colour; the same kind of line without them has none.
    assert coloured_pixels(page, body) > 100
    assert coloured_pixels(page, message(page, "plain words only").locator(".body")) == 0
