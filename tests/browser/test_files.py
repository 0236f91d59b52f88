"""Files in the room page: alice pastes a screenshot and drops a PDF; bob sees the thumbnail
and the download link live, opens the image and downloads the PDF."""

from __future__ import annotations

import base64

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import make_room, message, wait_live
from tests.helpers import PDF_BYTES, image_bytes

pytestmark = pytest.mark.server

LIVE_MS = 2000

# Make a File in the page from base64 and hand it over as a paste (to the composer) or a
# drop (on the history), the way the browser does for a screenshot or a file from the desktop.
GIVE_FILE = """([kind, selector, name, type, data]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  const target = document.querySelector(selector);
  const options = { bubbles: true, cancelable: true };
  if (kind === "paste") {
    target.dispatchEvent(new ClipboardEvent("paste", { clipboardData: transfer, ...options }));
  } else {
    for (const type of ["dragenter", "dragover", "drop"]) {
      target.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, ...options }));
    }
  }
}"""


def give(page, kind, selector, name, content_type, data):
    page.evaluate(GIVE_FILE, [kind, selector, name, content_type, base64.b64encode(data).decode()])


def test_a_pasted_image_and_a_dropped_pdf_reach_the_other_person_live(browsing, user, artifacts):
    alice, bob = user("alice"), user("bob")
    make_room(alice, "general", bob)
    a = browsing.page_for(alice, "/rooms/general/")
    b = browsing.page_for(bob, "/rooms/general/")
    wait_live(a)
    wait_live(b)

    give(a, "paste", "#composer-input", "image.png", "image/png", image_bytes(size=(640, 480)))
    give(a, "drop", "#history", "report.pdf", "application/pdf", PDF_BYTES)
    files = a.locator("#composer-files .pending-file")
    expect(files).to_have_count(2)
    expect(files.filter(has_text="image.png")).to_contain_text("Ready to send")
    expect(files.filter(has_text="report.pdf")).to_contain_text("Ready to send")
    expect(a.locator("#drop-hint")).to_be_hidden()
    a.locator("#composer-input").fill("the screenshot and the report")
    a.locator("#composer-input").press("Enter")
    expect(files).to_have_count(0)

    seen = message(b, "the screenshot and the report")
    expect(seen).to_have_count(1, timeout=LIVE_MS)
    thumbnail = seen.locator(".attachment-image img")
    expect(thumbnail).to_have_attribute("alt", "image.png")
    b.wait_for_function(
        "img => img.complete && img.naturalWidth === 320", arg=thumbnail.element_handle()
    )
    document = seen.locator(".attachment-file")
    expect(document.locator(".file-name")).to_have_text("report.pdf")
    expect(document.locator(".file-type")).to_have_text("application/pdf")
    expect(document.locator(".file-size")).to_have_text(f"{len(PDF_BYTES)}\u00a0bytes")
    b.screenshot(path=artifacts / "room-files-desktop-light.png")

    # The image opens full size, in a tab of its own.
    with b.context.expect_page() as opened:
        thumbnail.click()
    full = opened.value
    full.wait_for_load_state()
    assert full.url.endswith("/") and "/files/" in full.url
    image = "document.images[0]"
    size = full.evaluate(f"() => [{image}.naturalWidth, {image}.naturalHeight]")
    assert size == [640, 480]

    # The PDF downloads (Content-Disposition: attachment), with its name.
    with b.expect_download() as downloaded:
        document.click()
    assert downloaded.value.suggested_filename == "report.pdf"
    answer = b.request.get(str(document.get_attribute("href")))
    assert answer.status == 200
    assert answer.headers["content-disposition"] == 'attachment; filename="report.pdf"'
    assert answer.body() == PDF_BYTES

    # Alice deletes the message: the files go from Bob's page at once, and from the server.
    url = str(document.get_attribute("href"))
    mine = message(a, "the screenshot and the report")
    mine.hover()
    mine.get_by_role("button", name="Delete").click()
    expect(b.locator("#messages .attachment")).to_have_count(0, timeout=LIVE_MS)
    assert b.request.get(url).status == 404


def test_a_refused_file_says_why_and_can_be_cancelled(browsing, user):
    alice = user("alice")
    make_room(alice, "general")
    a = browsing.page_for(alice, "/rooms/general/")
    wait_live(a)
    give(a, "paste", "#composer-input", "fake.png", "image/png", b"not an image at all")
    refused = a.locator("#composer-files .pending-file")
    expect(refused).to_contain_text("Not attached: the file's content is not what its name says")
    refused.get_by_role("button", name="Cancel").click()
    expect(refused).to_have_count(0)
    expect(a.locator("#composer-files")).to_be_hidden()
