"""A real browser (Playwright driving Debian's Chromium, headless) on the running page."""

from __future__ import annotations

import shutil

import pytest

from tests.test_ui import _free_port
from tests.waiting import EVENT_MS

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium; .ci/run does)")
    with playwright.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield instance
        instance.close()


@pytest.fixture()
def page_at(indexed, browser, tmp_path):
    from ui.server import launch

    demos = []

    def open_page(auth_file=None, settings=None):
        port = _free_port()
        demos.append(launch(settings or indexed[0], port=port, auth_file=auth_file, block=False))
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.set_default_timeout(EVENT_MS)  # an upper bound on events, reached only when something hangs
        page.goto(f"http://127.0.0.1:{port}/")
        return page, f"http://127.0.0.1:{port}/"

    yield open_page
    for demo in demos:
        demo.close()


def test_upload_rank_compare_and_download_a_pdf(page_at, indexed, tmp_path):
    held_out = indexed[2]
    sitter = held_out[0].parent.name.replace("_", " ")
    page, _url = page_at()
    page.wait_for_selector("text=Who is in this painting?")
    page.locator("#identify-upload input[type=file]").set_input_files(str(held_out[0]))
    page.wait_for_selector(f"text=Best candidate: {sitter}", timeout=EVENT_MS)
    page.locator("[role=gridcell]", has_text=sitter).first.wait_for(timeout=EVENT_MS)  # the ranked sitters

    page.get_by_role("button", name="Report (PDF)").click()
    link = page.locator("a[href*='-report.pdf']").first
    link.wait_for(timeout=EVENT_MS)
    with page.expect_download() as download:
        link.click()
    saved = tmp_path / "report.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes()[:5] == b"%PDF-"

    page.get_by_role("tab", name="Compare").click()
    page.locator("#compare-a input[type=file]").set_input_files(str(held_out[0]))
    page.locator("#compare-b input[type=file]").set_input_files(str(held_out[1]))
    page.get_by_role("button", name="Compare", exact=True).click()
    page.wait_for_selector("text=Not the same sitter", timeout=EVENT_MS)


def test_login_required_on_page_and_api(page_at, tmp_path):
    from ui.auth import add_user

    users = tmp_path / "users.txt"
    add_user(users, "anna", "correct horse")
    page, url = page_at(users)
    page.wait_for_selector("input[type=password]")
    assert page.locator("text=Who is in this painting?").count() == 0
    assert page.request.get(f"{url}gradio_api/info").status == 401
    page.fill("input[type=text]", "anna")
    page.fill("input[type=password]", "correct horse")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Who is in this painting?", timeout=EVENT_MS)
    assert page.request.get(f"{url}gradio_api/info").status == 200


def test_an_enquiry_of_three_files_downloads_its_summary(page_at, indexed, tmp_path):
    import csv

    held_out = indexed[2][:3]
    page, _url = page_at()
    page.get_by_role("tab", name="Enquiry").click()
    page.locator("#enquiry-files input[type=file]").set_input_files([str(p) for p in held_out])
    page.get_by_role("button", name="Search all").click()
    page.wait_for_selector("text=3 image(s)")
    link = page.locator("#enquiry-downloads a[href*='enquiry.csv']").first
    link.wait_for()
    with page.expect_download() as download:
        link.click()
    saved = tmp_path / "enquiry.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(open(saved, encoding="utf-8")))
    firsts = {r["query"]: r["sitter"] for r in rows if r["rank"] == "1"}
    assert firsts == {p.name: p.parent.name.replace("_", " ") for p in held_out}


def test_merging_two_sitters_shows_their_works_together(page_at, indexed, tmp_path):
    from playwright.sync_api import expect

    from gallery.settings import with_overrides

    settings, _service, held_out, _db = indexed
    shutil.copytree(settings.data_dir, tmp_path / "data")
    source, target = (p.parent.name.replace("_", " ") for p in held_out[:2])
    page, _url = page_at(settings=with_overrides(settings, data_dir=tmp_path / "data"))
    page.get_by_role("tab", name="Record").click()
    page.locator("#record-sitter input, #record-sitter textarea").first.fill(source)
    page.locator("#record-other input, #record-other textarea").first.fill(target)
    page.get_by_role("button", name="Merge into").click()
    page.wait_for_selector(f"text=into {target}")
    page.get_by_role("tab", name="Collection").click()
    finder = page.get_by_label("Find a sitter")
    finder.fill(target)
    finder.press("Enter")
    page.locator("[role=gridcell]", has_text=target).first.click()
    # both sitters' faces (3 + 3 in the held-out collection), now all the target's
    expect(page.locator("[role=gridcell]", has_text="confirmed")).to_have_count(6)
