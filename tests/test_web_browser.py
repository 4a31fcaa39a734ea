"""The page of `mgflux serve` in a real browser: headless Chromium driven by Selenium.

CI installs Debian's `chromium` and `chromium-driver` (.ci/run); where no browser exists the test is skipped
with a message saying what to install. The screenshot lands in ``test-artifacts/`` (or ``$MGFLUX_TEST_ARTIFACTS``).
"""
import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("MGFLUX_TEST_ARTIFACTS", ROOT / "test-artifacts"))
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
DRIVER = shutil.which("chromedriver")


def serum(d, k="A"):
    """The serum total Mg the page shows for patient k (mM), read at once (the tiles are redrawn on every answer)."""
    v = d.execute_script(f"const e = document.getElementById('serum-{k}'); return e ? e.dataset.value : null;")
    return None if v is None else float(v)


def wait_for(d, cond, timeout=30):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(d, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(cond)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def page_url():
    pytest.importorskip("starlette", reason="the web extra is not installed: pip install \"mgflux[web]\"")
    uvicorn = pytest.importorskip("uvicorn", reason="the web extra is not installed: pip install \"mgflux[web]\"")
    from mgflux import web

    web.warm()  # what `mgflux serve` does before it listens
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(web.create_app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    t0 = time.monotonic()
    while not server.started:
        assert thread.is_alive() and time.monotonic() - t0 < 30, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    webdriver = pytest.importorskip("selenium.webdriver",
                                    reason="selenium is not installed: pip install \"mgflux[dev]\"")
    if not CHROMIUM or not DRIVER:
        pytest.skip("no browser: the browser test needs Chromium and its driver "
                    "(Debian: apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    profile = tempfile.mkdtemp(prefix="mgflux-chromium-")
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
              f"--user-data-dir={profile}", "--window-size=1400,1000"):
        opts.add_argument(a)
    opts.binary_location = CHROMIUM
    d = webdriver.Chrome(options=opts, service=Service(DRIVER))
    yield d
    d.quit()
    shutil.rmtree(profile, ignore_errors=True)


def test_gitelman_in_the_browser(browser, page_url):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    d = browser
    wait = WebDriverWait(d, 30, ignored_exceptions=(StaleElementReferenceException,))
    d.get(page_url)
    # the healthy adult first: normal serum Mg
    wait.until(lambda d: d.find_elements(By.ID, "serum-A"))
    wait_for(d, lambda d: serum(d) is not None)
    assert 0.75 < serum(d) < 0.95
    assert "0.8" in d.find_element(By.ID, "serum-A").text

    # pick SLC12A3 from the catalogue search, homozygous
    d.find_element(By.ID, "search").send_keys("slc12")
    hit = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#search-results li[data-name="SLC12A3"]'))[0]
    assert "Gitelman" in hit.text
    hit.click()
    card = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#items .item[data-name="SLC12A3"]'))[0]
    genotype = Select(card.find_element(By.CSS_SELECTOR, "select.genotype"))
    genotype.select_by_value("homozygous")
    assert genotype.first_selected_option.get_attribute("value") == "homozygous"

    # the live steady state: serum below 0.7 mM, shown on the page with its mg/dL and grade
    wait.until(lambda d: (serum(d) or 1) < 0.7)
    tile = d.find_element(By.ID, "serum-A")
    assert "alarm" in tile.get_attribute("class")
    shown_mM = float(tile.find_element(By.CSS_SELECTOR, ".tile-main").text.split()[0])
    assert shown_mM < 0.7
    assert "mg/dL" in tile.text and "grade 1" in tile.text
    # the clinical reading of the steady JSON, when this mgflux gives one
    if d.execute_script("return 'clinical_reading' in window.mgflux.results.A.steady"):
        reading = wait.until(lambda d: d.find_element(By.ID, "reading-A"))
        assert reading.is_displayed() and "grade 1" in reading.text
    # the waterfall against healthy: the DCT reabsorbs less
    findings = d.find_element(By.ID, "findings").text
    assert "DCT reabsorbs less" in findings

    # heterozygous: milder (the slider/selects recompute live)
    genotype.select_by_value("heterozygous")
    wait.until(lambda d: (serum(d) or 0) > 0.7)
    genotype.select_by_value("homozygous")
    wait.until(lambda d: (serum(d) or 1) < 0.7)

    # a time course on request, with its progress indicator while it runs
    d.find_element(By.ID, "duration").clear()
    d.find_element(By.ID, "duration").send_keys("200")
    d.find_element(By.ID, "run-btn").click()
    wait.until(lambda d: d.find_element(By.ID, "run-info").get_attribute("data-state") == "done")
    chart = d.find_element(By.ID, "chart-serum")
    assert chart.find_elements(By.CSS_SELECTOR, "path.series"), "the serum time course is drawn"
    assert "0.7 mM" in chart.text and "grade 1" in chart.text  # the 0.7 mM line and the grade bands' labels
    assert d.find_element(By.ID, "chart-urine").find_elements(By.CSS_SELECTOR, "path.series")
    assert d.find_element(By.ID, "chart-femg").find_elements(By.CSS_SELECTOR, "path.series")
    assert d.find_element(By.ID, "run-progress").get_attribute("hidden") is not None
    days = d.execute_script("return window.mgflux.results.A.run.timecourse.time_day.length")
    assert days == 201

    # the dose finder answers on the page
    d.find_element(By.ID, "dose-btn").click()
    wait.until(lambda d: d.find_element(By.ID, "dose-result").get_attribute("data-state") == "done")
    assert "mg/day" in d.find_element(By.ID, "dose-result").text

    # the IV Mg loading test, when this mgflux has it
    if d.execute_script("return window.mgflux.features.loading_test"):
        d.find_element(By.ID, "lt-btn").click()
        wait.until(lambda d: d.find_element(By.ID, "lt-result").get_attribute("data-state") == "done")
        retention = float(d.find_element(By.ID, "lt-retention").get_attribute("data-value"))
        assert 0 <= retention <= 100 and "%" in d.find_element(By.ID, "lt-retention").text
        assert d.find_element(By.ID, "chart-lt").find_elements(By.CSS_SELECTOR, "path.series")

    # a typo is an error on the page with the CLI's did-you-mean (the JSON API's 400)
    d.execute_script("window.mgflux.patients.A.items.push({name: 'SLC12A3x', kind: 'gene', genotype: 'homozygous'});")
    d.find_element(By.ID, "p-name").send_keys(" ")  # any edit recomputes
    wait.until(lambda d: d.find_element(By.ID, "error").is_displayed())
    assert "Did you mean 'SLC12A3'" in d.find_element(By.ID, "error").text

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    d.execute_script("window.mgflux.patients.A.items.pop();")
    d.find_element(By.ID, "p-name").send_keys("\b")
    wait.until(lambda d: not d.find_element(By.ID, "error").is_displayed())
    height = d.execute_script("return document.body.scrollHeight")
    d.set_window_size(1400, height + 40)
    time.sleep(0.3)
    shot = ARTIFACTS / "web_gitelman.png"
    assert d.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE" and "400 (Bad Request)" not in e["message"]]
    assert not errors, errors  # no script error, no missing file


def test_compare_two_patients_side_by_side(browser, page_url):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    d = browser
    wait = WebDriverWait(d, 30, ignored_exceptions=(StaleElementReferenceException,))
    d.get(page_url)
    wait.until(lambda d: d.find_elements(By.ID, "serum-A"))
    # patient B: omeprazole (renal conservation, low urine Mg) against patient A: healthy
    d.find_element(By.ID, "tab-B").click()
    d.find_element(By.ID, "search").send_keys("omeprazole")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#search-results li[data-name="omeprazole"]'))
    d.find_element(By.ID, "search").send_keys("\n")  # Enter adds the first hit
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '#items .item[data-name="omeprazole"]'))
    d.find_element(By.ID, "compare-toggle").click()
    wait_for(d, lambda d: serum(d, "A") is not None and serum(d, "B") is not None)
    a = serum(d, "A")
    wait_for(d, lambda d: serum(d, "B") < a)
    series = d.execute_script(
        "return [...document.querySelectorAll('#waterfall rect.wf-bar')].map(b => b.dataset.series)")
    assert set(series) == {"healthy adult", "Patient A", "Patient B"}


def test_load_a_scenario_file(browser, page_url):
    """The file picker fills the form from a TOML file (the one the CLI runs), and the page computes it."""
    import tomllib

    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from conftest import SCENARIOS

    path = SCENARIOS / "combinations" / "gitelman_on_mg_citrate.toml"
    raw = tomllib.loads(path.read_text())
    d = browser
    wait = WebDriverWait(d, 30, ignored_exceptions=(StaleElementReferenceException,))
    d.get(page_url)
    wait.until(lambda d: d.find_elements(By.ID, "serum-A"))
    d.find_element(By.ID, "load-file").send_keys(str(path))
    names = [e["name"] for e in raw.get("perturbation", []) + raw.get("treatment", [])]
    wait.until(lambda d: [i.get_attribute("data-name")
                          for i in d.find_elements(By.CSS_SELECTOR, "#items .item")] == names)
    assert d.find_element(By.ID, "p-name").get_attribute("value") == raw["scenario"]["name"]
    # the page sends back the scenario it loaded: the same steady state as the file
    import mgflux

    expected = mgflux.steady_state(path)["serum_mg_total_mM"]
    wait_for(d, lambda d: abs((serum(d) or 0) - expected) < 1e-9)
    # its time course: the summary line gives the nadir and the time below 0.7 mM that `mgflux run` gives
    d.find_element(By.ID, "run-btn").click()
    wait.until(lambda d: d.find_element(By.ID, "run-info").get_attribute("data-state") == "done")
    run = mgflux.simulate(path)
    low, s = run.time_below(0.7), run["serum_mg_total_mM"]
    summary = d.find_element(By.ID, "run-summary").text
    nadir = f"lowest serum Mg {s.min():.2f} mM ({s.min() * 2.4305:.2f} mg/dL) on day {run.time_day[s.argmin()]:.0f}"
    assert nadir in summary
    if low["days"] > 0:
        assert f"below 0.7 mM for {low['days']:.0f} days from day {low['first_day']:.0f}" in summary
    else:
        assert "never below 0.7 mM" in summary


def test_calcium_readouts_are_shown_when_the_json_has_them(browser, page_url):
    """Ca/PTH come with the calcium module: the page shows whichever of its readouts the JSON carries (here
    added to a real answer in the page, so the test runs before the module lands)."""
    from selenium.webdriver.common.by import By

    d = browser
    d.get(page_url)
    wait_for(d, lambda d: serum(d) is not None)
    d.execute_script("""
        const r = window.mgflux.results.A;
        r.steady.serum_ca_total_mM = 2.05; r.steady.pth_pg_per_mL = 85;
        const n = 5, t = [0, 1, 2, 3, 4];
        r.run = {timecourse: {time_day: t, serum_mg_total_mM: Array(n).fill(0.8),
                 urine_mg_mmol_per_day: Array(n).fill(4),
                 femg_percent: Array(n).fill(3), hypomagnesemia_grade: Array(n).fill(0),
                 serum_ca_total_mM: [2.3, 2.2, 2.1, 2.05, 2.0], pth_pg_per_mL: [40, 50, 60, 70, 85]}};
    """)
    d.execute_script("renderResults()")
    tiles = d.find_element(By.ID, "tiles").text
    assert "SERUM TOTAL CA" in tiles.upper() and "2.05" in tiles and "8.2 mg/dL" in tiles
    assert "PTH" in tiles and "85" in tiles
    assert d.find_element(By.ID, "chart-ca").find_elements(By.CSS_SELECTOR, "path.series")
    assert "2.1 mM" in d.find_element(By.ID, "chart-ca").text  # the hypocalcaemia line
    assert d.find_element(By.ID, "chart-pth").find_elements(By.CSS_SELECTOR, "path.series")


def test_the_page_sends_the_scenario_structure_of_the_toml_file(browser, page_url):
    """What the form becomes: the TOML structure, [patient] only when a field is set, plain numbers with the
    field's unit, quantities as written."""
    d = browser
    d.get(page_url)
    wait_for(d, lambda d: serum(d) is not None)
    raw = d.execute_script("return toScenario(window.mgflux.patients.A)")
    assert "patient" not in raw and "perturbation" not in raw and "treatment" not in raw
    assert raw["diet"] == {"mg_intake": "300 mg/day"} and raw["scenario"]["duration"] == "365 day"
    raw = d.execute_script("""
        const p = window.mgflux.patients.A, e = n => window.mgflux.byName[n];
        p.age = "8"; p.weight = "25"; p.sex = "female"; p.diet = "12 mmol/day";
        p.items = [newItem(e("SLC12A3")), newItem(e("omeprazole")), newItem(e("magnesium_citrate")),
                   newItem(e("iv_magnesium_sulfate"))];
        p.items[0].genotype = "activity"; p.items[0].activity = "0.3";
        p.items[1].dose = "40 mg/day"; p.items[1].start = "2 week"; p.items[1].stop = "90";
        p.items[2].start = "30";
        p.items[3].mode = "amount"; p.items[3].start = "100"; p.items[3].stop = "200";
        return toScenario(p);
    """)
    assert raw["patient"] == {"age": "8 year", "sex": "female", "weight": "25 kg"}
    assert raw["diet"] == {"mg_intake": "12 mmol/day"}
    assert raw["perturbation"] == [{"name": "SLC12A3", "activity": 0.3},
                                   {"name": "omeprazole", "dose": "40 mg/day", "start": "2 week", "stop": "90 day"}]
    assert raw["treatment"] == [{"name": "magnesium_citrate", "amount": "400 mg/day", "start": "30 day"},
                                {"name": "iv_magnesium_sulfate", "amount": "30 mmol", "duration": "8 hour",
                                 "start": "100 day"}]  # a one-off amount has no stop
    # and back: the form filled from that structure gives the same structure
    again = d.execute_script("return toScenario(fromScenario(arguments[0], 'x'))", raw)
    assert again == raw
    # keys of a loaded file the form has no field for are sent back as they were
    other = {"scenario": {"name": "x", "model": "adult", "description": "d", "duration": "30 day",
                          "sample_every": "1 day"},
             "patient": {"age": "8 year", "height": "120 cm", "serum_creatinine": "0.5 mg/dL"},
             "diet": {"mg_intake": "250 mg/day"}}
    assert d.execute_script("return toScenario(fromScenario(arguments[0], 'x'))", other) == other


def test_a_child_from_the_patient_fields(browser, page_url):
    """Age and weight go to [patient] when the model has it: an 8-year-old of 25 kg has a smaller body Mg."""
    from selenium.webdriver.common.by import By

    d = browser
    d.get(page_url)
    wait_for(d, lambda d: serum(d) is not None)
    if not d.execute_script("return window.mgflux.features.patient"):
        pytest.skip("this mgflux has no [patient] scenarios")
    body = lambda: d.execute_script("return window.mgflux.results.A.steady.body_mg_mmol")  # noqa: E731
    adult = body()
    d.find_element(By.ID, "p-age").send_keys("8")
    d.find_element(By.ID, "p-weight").send_keys("25")
    wait_for(d, lambda d: body() < 0.6 * adult)
    sent = d.execute_script("return toScenario(window.mgflux.patients.A).patient")
    assert sent == {"age": "8 year", "weight": "25 kg"}
    assert not d.find_element(By.ID, "error").is_displayed()
