"""A real browser (Playwright driving Debian's Chromium, headless) on the running page."""

from __future__ import annotations

import shutil
import time

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
    page.locator("#identify-works img").first.wait_for(timeout=EVENT_MS)  # then the pictures, after the table
    page.locator("#identify-faces img").first.wait_for(timeout=EVENT_MS)

    page.get_by_role("button", name="Report (PDF)").click()
    link = page.locator("a[href*='-report.pdf']").first
    link.wait_for(timeout=EVENT_MS)
    with page.expect_download() as download:
        link.click()
    saved = tmp_path / "report.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes()[:5] == b"%PDF-"

    from playwright.sync_api import expect

    page.get_by_text("Why this match?").click()  # the accordion
    page.get_by_role("button", name="Explain the selected candidate's match").click()
    page.locator("#identify-explain-words", has_text="most against").wait_for(timeout=EVENT_MS)
    expect(page.locator("#identify-explanation img")).to_have_count(2)  # the query's and the match's overlays

    page.get_by_role("tab", name="Compare").click()
    page.locator("#compare-a input[type=file]").set_input_files(str(held_out[0]))
    page.locator("#compare-b input[type=file]").set_input_files(str(held_out[1]))
    page.get_by_role("button", name="Compare", exact=True).click()
    page.wait_for_selector("text=Not the same sitter", timeout=EVENT_MS)


def test_a_phone_photograph_in_heic_is_searched(page_at, indexed, tmp_path):
    from PIL import Image

    from gallery.faces.formats import register_plugins

    register_plugins()
    held_out = indexed[2]
    sitter = held_out[1].parent.name.replace("_", " ")
    photo = tmp_path / "IMG_0042.HEIC"
    Image.open(held_out[1]).convert("RGB").save(photo, format="HEIF", quality=90)
    page, _url = page_at()
    page.wait_for_selector("text=Who is in this painting?")
    # the type a phone's or a Mac's browser gives the file (Chromium on Linux knows no type for
    # .heic, and the upload box takes only files typed image/*; see docs/curators/page.md)
    page.locator("#identify-upload input[type=file]").set_input_files(
        {"name": photo.name, "mimeType": "image/heic", "buffer": photo.read_bytes()})
    page.wait_for_selector(f"text=Best candidate: {sitter}", timeout=EVENT_MS)


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

    from gallery.config.settings import with_overrides

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


@pytest.fixture(scope="module")
def curated_data(lfw_dir, onnx_profile, onnx_pipeline, tmp_path_factory):
    """A small collection with unlabelled portraits of known sitters and of unknown ones (see
    tests.collections.build_curated), indexed once per module; each test works on a copy."""
    from gallery.config.settings import load_settings
    from indexer.runner import index_collection
    from tests.collections import build_curated

    root = tmp_path_factory.mktemp("curated")
    build_curated(lfw_dir, root / "collection", 4, 3)
    settings = load_settings(onnx_profile, {"HOME": str(root)}, data_dir=str(root / "data"), workers=0)
    index_collection(settings, root / "collection", pipeline=onnx_pipeline)
    return settings, root / "collection"


@pytest.fixture()
def curated_page(curated_data, page_at, tmp_path):
    from gallery.config.settings import with_overrides

    settings, root = curated_data
    shutil.copytree(settings.data_dir, tmp_path / "data")
    copied = with_overrides(settings, data_dir=tmp_path / "data")
    page, _url = page_at(settings=copied)
    page.context.gallery_db = copied.database_url
    page.wait_for_selector("text=Who is in this painting?")
    return page, root


def test_add_an_upload_to_the_collection_and_find_it_next_time(curated_page, lfw_dir):
    page, _root = curated_page
    newcomer = sorted(sorted(p for p in lfw_dir.iterdir() if p.is_dir())[-1].glob("*.jpg"))
    page.locator("#identify-upload input[type=file]").set_input_files(str(newcomer[0]))
    page.get_by_text("Add to the collection").click()  # opens the section
    page.get_by_label("Title").fill("Portrait of a newcomer")
    page.locator("#identify-add-sitter-matches", has_text="The candidates").wait_for()  # the search's sitters
    page.locator("#identify-add-sitter input, #identify-add-sitter textarea").first.fill("Newcomer Person")
    page.locator("#identify-add-new input").check()
    page.get_by_role("button", name="Add this image").click()
    page.wait_for_selector("text=was added to the collection")
    page.wait_for_selector("text=confirmed as Newcomer Person")
    page.reload()  # a new session: the next search
    page.locator("#identify-upload input[type=file]").set_input_files(str(newcomer[1]))
    page.locator("[role=gridcell]", has_text="Newcomer Person").first.wait_for()  # found by the next search


def test_confirm_a_candidate_for_a_collection_face(curated_page, lfw_dir):
    page, root = curated_page
    sitter_folder = sorted(p for p in root.iterdir() if p.is_dir())[0]
    unlabelled = sorted(root.glob(f"{sitter_folder.name}_*.jpg"))[0]  # in the collection, not yet identified
    page.locator("#identify-upload input[type=file]").set_input_files(str(unlabelled))
    page.wait_for_selector("text=This image is in the collection")
    page.wait_for_selector("text=no identification yet")
    sitter = sitter_folder.name.replace("_", " ")
    page.wait_for_selector(f"text=Selected candidate: {sitter}")
    page.get_by_role("button", name="Confirm selected candidate").click()
    page.wait_for_selector(f"text=confirmed as {sitter}")


def _face_shown(page) -> str:
    return page.locator("#suggestions-current").inner_text().split()[1]  # "Face 12 of ..."


def test_suggestions_are_reviewed_from_the_keyboard(curated_page, capsys):
    """A accept, R reject, S/arrows move, U undo: each decision shows the next suggestion at once.
    The decisions per minute of this run are printed (a figure, not a limit)."""
    from db.engine import open_database
    from db.schema import Identification

    page, _root = curated_page
    page.get_by_role("tab", name="Suggestions").click()
    page.locator("#suggestions-refresh").click()
    page.wait_for_selector("text=face(s) to review")
    total = int(page.locator("#suggestions-summary").inner_text().split("review: ")[1].split()[0])
    assert total >= 4

    first = _face_shown(page)
    page.keyboard.press("s")
    page.wait_for_function(f"() => !document.querySelector('#suggestions-current').innerText.includes('Face {first} ')")
    page.keyboard.press("ArrowLeft")
    page.locator("#suggestions-current", has_text=f"Face {first} ").wait_for()

    decided = []
    started = time.perf_counter()
    for key in "arar":
        face = _face_shown(page)
        page.keyboard.press(key)
        page.locator("#suggestions-outcome", has_text=f"Face {face}:").wait_for()
        decided.append((face, key))
    per_minute = len(decided) / (time.perf_counter() - started) * 60
    with capsys.disabled():
        print(f"\nkeyboard review: {per_minute:.0f} decisions per minute ({len(decided)} in a real browser)")
    assert "rejected" in page.locator("#suggestions-outcome").inner_text()

    page.keyboard.press("u")  # the last decision (a reject) is taken back; its face is shown again
    last = decided[-1][0]
    page.locator("#suggestions-outcome", has_text=f"Undone: face {last}").wait_for()
    assert _face_shown(page) == last
    database = open_database(_database_url_of(page))
    with database.session() as session:
        records = {r.face_id: r for r in session.query(Identification).where(Identification.source == "curator")
                   .order_by(Identification.id)}
    assert {str(f): r.status for f, r in records.items()} == {
        decided[0][0]: "confirmed", decided[1][0]: "rejected", decided[2][0]: "confirmed", last: "withdrawn"}


def _database_url_of(page) -> str:
    return page.context.gallery_db  # set by curated_page


def test_a_cluster_is_named_and_taken_back_from_the_keyboard(curated_page):
    page, _root = curated_page
    page.get_by_role("tab", name="Clusters").click()
    page.get_by_role("button", name="Find clusters").click()
    page.wait_for_selector("text=cluster(s) among the faces")
    page.locator("#clusters-refresh").focus()
    page.keyboard.press("/")  # the cursor into the sitter box
    page.keyboard.type("Unknown sitter A")
    page.keyboard.press("Escape")
    page.locator("#clusters-new input").check()
    page.locator("#clusters-refresh").focus()
    page.keyboard.press("a")
    page.wait_for_selector("text=confirmed as Unknown sitter A")
    page.keyboard.press("u")
    page.wait_for_selector("text=is no longer named Unknown sitter A")


def test_a_sitter_is_picked_however_its_name_is_typed(curated_data, page_at, tmp_path):
    from db.engine import open_database
    from db.sitter_changes import rename_sitter
    from db.sitters import list_sitters
    from gallery.config.settings import with_overrides

    settings, _root = curated_data
    shutil.copytree(settings.data_dir, tmp_path / "data")
    settings = with_overrides(settings, data_dir=tmp_path / "data")
    with open_database(settings.database_url).session() as session:
        rename_sitter(session, list_sitters(session)[0].name, "Élisabeth Vigée Le Brun")
    page, _url = page_at(settings=settings)
    page.get_by_role("tab", name="Record").click()
    box = page.locator("#record-sitter input, #record-sitter textarea").first
    box.press_sequentially("elisabeth vigee")  # typed as on a keyboard without accents
    page.locator("#record-sitter-matches label", has_text="Élisabeth Vigée Le Brun").click()
    from playwright.sync_api import expect

    expect(box).to_have_value("Élisabeth Vigée Le Brun")
    expect(page.locator("#record-sitter-matches")).to_be_hidden()
    page.get_by_label("Born").fill("1755")
    page.get_by_role("button", name="Save names and dates").click()
    page.wait_for_selector("text=born 1755")


@pytest.fixture(scope="module")
def dated_data(lfw_dir, onnx_profile, onnx_pipeline, tmp_path_factory):
    from tests.collections import build_dated

    return build_dated(lfw_dir, tmp_path_factory.mktemp("dated"), onnx_profile, onnx_pipeline)


def test_a_query_with_a_date_shows_plausibility_and_a_replica_group_expands(dated_data, page_at):
    from playwright.sync_api import expect

    settings, held_out, names, _folders = dated_data
    page, _url = page_at(settings=settings)
    page.wait_for_selector("text=Who is in this painting?")
    page.locator("#identify-date input, #identify-date textarea").first.fill("1750")
    page.locator("#identify-upload input[type=file]").set_input_files(str(held_out[0]))
    page.wait_for_selector("text=Judged against the work's date")
    expect(page.locator("th", has_text="plausibility").first).to_be_visible()
    page.locator("[role=gridcell]", has_text="implausible").first.wait_for()  # died 1680: 1750 is too late
    page.locator("[role=gridcell]", has_text="3 and 2 replica(s)").first.wait_for()
    page.locator("#identify-works button", has_text="and 2 replica(s)").first.click()  # the grouped work
    expect(page.locator("#identify-replicas img")).to_have_count(2)


def test_a_face_is_drawn_on_the_page_and_rejected(curated_page):
    """Two clicks on the artwork draw a box; the face is added, then rejected, from the page."""
    page, _root = curated_page
    page.get_by_role("tab", name="Collection").click()
    page.get_by_text("Faces of an artwork").click()  # opens the section
    page.locator("#faces-artwork input, #faces-artwork textarea").first.fill("1")
    page.locator("#faces-show").click()
    page.locator("#faces-described", has_text="Faces as numbered on the picture").wait_for()
    picture = page.locator("#faces-picture img").first
    picture.wait_for()
    picture.scroll_into_view_if_needed()
    natural = picture.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    frame = picture.bounding_box()
    for x, y in ((8, 8), (72, 80)):  # natural pixels of the shown picture (the artwork is 250 x 250)
        page.mouse.click(frame["x"] + x * frame["width"] / natural[0], frame["y"] + y * frame["height"] / natural[1])
        if x == 8:
            page.locator("#faces-outcome", has_text="First corner").wait_for()
    box = page.locator("#faces-box input, #faces-box textarea").first
    page.wait_for_function("el => el.value.split(',').length === 4", arg=box.element_handle())
    x, y, w, h = (float(v) for v in box.input_value().split(","))
    assert abs(x - 8) <= 2 and abs(y - 8) <= 2 and abs(w - 64) <= 3 and abs(h - 72) <= 3
    page.locator("#faces-add").click()
    outcome = page.locator("#faces-outcome", has_text="drawn on artwork 1")
    outcome.wait_for()
    face = outcome.inner_text().split()[1]
    page.locator("#faces-described", has_text=f"face {face} (drawn)").wait_for()
    page.locator("#faces-id input").fill(face)
    page.locator("#faces-reject").click()
    page.locator("#faces-outcome", has_text=f"Face {face} of artwork 1 is rejected as not a face").wait_for()
