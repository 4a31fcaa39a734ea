"""The JSON API of `mgflux serve` through Starlette's test client: the same answers and messages as the CLI."""
import json
import re
import tomllib
from pathlib import Path

import pytest

pytest.importorskip("starlette", reason="the web extra is not installed: pip install \"mgflux[web]\"")
pytest.importorskip("httpx", reason="Starlette's TestClient needs httpx")

import warnings  # noqa: E402

with warnings.catch_warnings():  # newer Starlette prefers httpx2 for its TestClient; httpx works the same
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient  # noqa: E402

import mgflux  # noqa: E402
from conftest import SCENARIOS  # noqa: E402
from mgflux import main, web  # noqa: E402

SHIPPED = sorted(SCENARIOS.rglob("*.toml"))


@pytest.fixture(scope="module")
def client():
    with TestClient(web.create_app()) as c:
        yield c


def cli_json(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def cli_error(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("mgflux: error: ")
    return err[len("mgflux: error: "):].strip()


def raw_of(path: Path) -> dict:
    return tomllib.loads(path.read_text())


# ------------------------------------------------------------------------------- same answers as the CLI


@pytest.mark.parametrize("rel", ["genes/SLC12A3.toml", "combinations/gitelman_on_mg_citrate.toml",
                                 "combinations/ppi_plus_thiazide.toml", "healthy.toml"])
def test_steady_is_the_cli_json(client, capsys, rel):
    path = SCENARIOS / rel
    r = client.post("/api/steady", json=raw_of(path))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == cli_json(capsys, "steady", str(path), "--json")


def test_run_is_the_cli_json(client, capsys):
    path = SCENARIOS / "combinations" / "cetuximab_course_with_stop.toml"
    r = client.post("/api/run", json=raw_of(path))
    assert r.status_code == 200, r.text
    obj = r.json()
    assert obj == cli_json(capsys, "run", str(path), "--json")
    tc = obj["timecourse"]
    assert len(tc["time_day"]) == len(tc["serum_mg_total_mM"]) == 301
    # the course falls under cetuximab and recovers after the stop (day 196)
    s = tc["serum_mg_total_mM"]
    assert min(s) < s[0] - 0.05 and s[-1] > min(s) + 0.05


def test_compare_and_dose_finder_are_the_cli_json(client, capsys):
    path = SCENARIOS / "genes" / "SLC12A3.toml"
    r = client.post("/api/compare", json=raw_of(path))
    assert r.status_code == 200
    assert r.json() == cli_json(capsys, "compare", str(path), "--json")
    rows = {row["quantity"]: row for row in r.json()["rows"]}
    assert rows["DCT reabsorbed"]["scenario"] < rows["DCT reabsorbed"]["healthy"]  # Gitelman: the DCT fails

    r = client.post("/api/dose-finder?treatment=magnesium_chloride&target=0.68%20mM", json=raw_of(path))
    assert r.status_code == 200, r.text
    cli = cli_json(capsys, "dose-finder", str(path), "--treatment", "magnesium_chloride", "--target", "0.68 mM",
                   "--json")
    assert r.json() == cli
    assert r.json()["dose_mmol_per_day"] > 0 and r.json()["serum_at_dose_mM"] >= 0.68


def test_dose_finder_defaults_are_the_cli_defaults(client, capsys):
    path = SCENARIOS / "genes" / "SLC12A3.toml"
    r = client.post("/api/dose-finder", json=raw_of(path))
    assert r.json() == cli_json(capsys, "dose-finder", str(path), "--json")
    assert r.json()["treatment"] == "magnesium_citrate" and r.json()["target_mM"] == pytest.approx(0.7)


def test_run_csv_is_the_cli_timecourse_csv(client, tmp_path, capsys):
    path = SCENARIOS / "combinations" / "cisplatin_six_cycles.toml"
    r = client.post("/api/run.csv", json=raw_of(path))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert main(["run", str(path), "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    assert r.text == (tmp_path / "timecourse.csv").read_text()


def test_catalogue_lists_every_entry_of_the_cli(client, capsys):
    r = client.get("/api/catalogue")
    assert r.status_code == 200
    web = {e["name"]: e for e in r.json()["entries"]}
    cli = cli_json(capsys, "catalogue", "--json")
    assert set(web) == {e["name"] for e in cli["entries"]}
    for e in cli["entries"]:
        w = web[e["name"]]
        for k in ("kind", "mechanism", "aliases", "source", "phenotype", "description"):
            assert w[k] == e[k], (e["name"], k)
    assert r.json()["mechanisms"] == cli["mechanisms"]
    slc = web["SLC12A3"]
    assert slc["kind"] == "gene" and slc["patient_genotype"] == "homozygous" and slc["homozygous_activity"] == 0
    assert web["iv_magnesium_sulfate"]["route"] == "iv"
    assert web["omeprazole"]["standard_dose"]
    assert r.json()["features"]["patient"] is True  # this mgflux reads [patient] (mgflux.Patient)


# ------------------------------------------------------------------------------------------ bad input


BAD = [
    ('[[perturbation]]\nname = "SLC12A3x"\n', "Did you mean 'SLC12A3'?"),
    ('[diet]\nmg_intake = "300 mg"\n', "'mmol/day'"),
    ('[scenario]\nduraton = "30 day"\n', "Did you mean 'duration'?"),
    ('[[perturbation]]\nname = "SLC12A3"\ngenotype = "homozygote"\n', "Did you mean 'homozygous'?"),
    ('[[treatment]]\nname = "omeprazole"\n', "under [[perturbation]]"),
]


@pytest.mark.parametrize("text,needle", BAD)
def test_bad_scenario_is_400_with_the_cli_message(client, capsys, tmp_path, text, needle):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    cli = cli_error(capsys, "steady", str(path))
    for endpoint in ("/api/steady", "/api/run", "/api/compare", "/api/dose-finder", "/api/scenario.toml"):
        r = client.post(endpoint, json=tomllib.loads(text))
        assert r.status_code == 400, endpoint
        assert r.json()["error"] == cli.replace(str(path), web.WHERE), endpoint
        assert needle in r.json()["error"]
    # a bad uploaded file: the message names the file, as the CLI's does
    r = client.post("/api/parse?filename=bad.toml", content=text)
    assert r.status_code == 400 and r.json()["error"] == cli.replace(str(path), "bad.toml")


def test_bad_option_and_bad_body(client):
    r = client.post("/api/dose-finder?target=0.7%20kg", json={})
    assert r.status_code == 400 and "kg" in r.json()["error"] and "mM" in r.json()["error"]
    r = client.post("/api/dose-finder?treatment=magnesium_citrat", json={})
    assert r.status_code == 400 and "Did you mean 'magnesium_citrate'" in r.json()["error"]
    r = client.post("/api/dose-finder?trget=0.7", json={})
    assert r.status_code == 400 and "Did you mean 'target'?" in r.json()["error"]
    r = client.post("/api/steady", content=b"{not json")
    assert r.status_code == 400 and "not valid JSON" in r.json()["error"]
    r = client.post("/api/steady", json=[1, 2])
    assert r.status_code == 400 and "JSON object" in r.json()["error"]
    r = client.post("/api/parse", content='[scenario\nname = "x"')
    assert r.status_code == 400 and "not valid TOML" in r.json()["error"]
    assert client.get("/api/steady").status_code == 405


def test_limits(client):
    r = client.post("/api/steady", content=b" " * (web.MAX_BODY_BYTES + 1), headers={"content-type": "application/json"})
    assert r.status_code == 413 and "KiB" in r.json()["error"]
    r = client.post("/api/run", json={"scenario": {"duration": "30 year"}})
    assert r.status_code == 400 and "limit" in r.json()["error"] and "mgflux run" in r.json()["error"]
    r = client.post("/api/run", json={"scenario": {"duration": "2 year", "sample_every": "1 hour"}})
    assert r.status_code == 400 and "samples" in r.json()["error"] and "sample_every" in r.json()["error"]
    many = [{"name": "omeprazole", "start": f"{i} day", "stop": f"{i + 1} day"}
            for i in range(web.MAX_ENTRIES + 1)]
    r = client.post("/api/steady", json={"perturbation": many})
    assert r.status_code == 400 and str(web.MAX_ENTRIES) in r.json()["error"]
    # within the limits, the same scenario is fine
    r = client.post("/api/run", json={"scenario": {"duration": "730 day", "sample_every": "1 day"}})
    assert r.status_code == 200 and len(r.json()["timecourse"]["time_day"]) == 731


def test_other_web_sites_cannot_use_the_api(client):
    r = client.post("/api/steady", json={}, headers={"origin": "https://evil.example"})
    assert r.status_code == 403 and "other web sites" in r.json()["error"]
    r = client.post("/api/steady", json={}, headers={"origin": "http://testserver"})  # the page itself
    assert r.status_code == 200


def test_patient_section_is_accepted_exactly_when_the_model_has_it(client):
    r = client.post("/api/steady", json={"patient": {"age": "40 year", "sex": "female", "weight": "60 kg"}})
    assert r.status_code == 200, r.text


def test_loading_test(client, capsys):
    path = SCENARIOS / "genes" / "SLC12A3.toml"
    r = client.post("/api/loading-test", json=raw_of(path))
    assert r.status_code == 200, r.text
    assert r.json() == cli_json(capsys, "loading-test", str(path), "--json")
    assert 0 <= r.json()["retention_percent"] <= 100
    r = client.post("/api/loading-test?protocol=0.1mmol/kg-4h&at=10%20day", json=raw_of(path))
    assert r.status_code == 200, r.text
    assert r.json() == cli_json(capsys, "loading-test", str(path), "--protocol", "0.1mmol/kg-4h", "--at", "10 day",
                                "--json")
    assert r.json()["dose_mmol"] == pytest.approx(7.0) and r.json()["at_day"] == pytest.approx(10)
    r = client.post("/api/loading-test?protocol=30mmol-8", json=raw_of(path))
    assert r.status_code == 400 and "Did you mean '30mmol-8h'" in r.json()["error"]
    assert set(client.get("/api/catalogue").json()["features"]["loading_test_protocols"]) >= {"30mmol-8h"}


# -------------------------------------------------------------------------------------------- TOML files


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(SCENARIOS)))
def test_toml_download_round_trips_through_load_scenario(client, tmp_path, path):
    """The page's TOML is the file the CLI runs: parse a shipped scenario as the page does, download it again,
    and load_scenario gives the same scenario."""
    r = client.post(f"/api/parse?filename={path.name}", content=path.read_text())
    assert r.status_code == 200, r.text
    raw = r.json()
    t = client.post("/api/scenario.toml", json=raw)
    assert t.status_code == 200 and "attachment" in t.headers["content-disposition"]
    out = tmp_path / "downloaded.toml"
    out.write_text(t.text)
    a, b = mgflux.load_scenario(path), mgflux.load_scenario(out)
    for field in ("name", "duration", "sample_every", "mg_intake", "applications", "description"):
        assert getattr(a, field) == getattr(b, field), field
    assert a.model is b.model


def test_page_scenario_with_every_kind_of_input_round_trips(client, tmp_path):
    raw = {"scenario": {"name": "page \"A\" ünïcode", "duration": "120 day", "sample_every": "6 hour"},
           "diet": {"mg_intake": "12 mmol/day"},
           "perturbation": [{"name": "TRPM6", "activity": 0.3},
                            {"name": "omeprazole", "dose": "40 mg/day", "start": "2 week"},
                            {"name": "cisplatin", "dose": 1.5, "start": "10 day", "stop": "11 day"}],
           "treatment": [{"name": "magnesium_citrate", "amount": "400 mg/day", "start": "30 day", "stop": "90 day"},
                         {"name": "inulin", "amount": "20 g/day"},
                         {"name": "iv_magnesium_sulfate", "amount": "30 mmol", "duration": "8 hour",
                          "start": "100 day"}]}
    t = client.post("/api/scenario.toml", json=raw)
    assert t.status_code == 200, t.text
    assert tomllib.loads(t.text) == raw
    (tmp_path / "s.toml").write_text(t.text)
    web = client.post("/api/run", json=raw).json()
    assert web["final"] == mgflux.simulate(tmp_path / "s.toml").to_dict()["final"]


# -------------------------------------------------------------------------------------------- the page


def test_page_and_its_files_are_served_locally(client):
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    refs = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert refs, "the page loads its scripts and styles"
    for ref in refs:
        if ref.startswith("data:"):
            continue
        assert ref.startswith("/static/"), f"{ref}: every script and style is served by mgflux itself"
        assert client.get(ref).status_code == 200, ref
    for f in web.STATIC.iterdir():  # no CDN, no remote font: only the SVG namespace is a URL
        urls = set(re.findall(r"https?://[^\s\"'`)]+", f.read_text()))
        assert urls <= {"http://www.w3.org/2000/svg"}, (f.name, urls)


def test_serve_binds_locally_and_warns_elsewhere(monkeypatch, capsys):
    uvicorn = pytest.importorskip("uvicorn")
    import webbrowser

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, host, port, **kw: calls.append((host, port)))
    monkeypatch.setattr(webbrowser, "open", lambda url: calls.append(url))
    assert main(["serve", "--no-browser"]) == 0
    assert calls == [("127.0.0.1", 8050)]
    err = capsys.readouterr().err
    assert "warning" not in err and "http://127.0.0.1:8050/" in err
    calls.clear()
    web.serve(host="0.0.0.0", port=8051, open_browser=False, warm=False)
    assert calls == [("0.0.0.0", 8051)]
    err = capsys.readouterr().err
    assert "warning: binding to 0.0.0.0" in err and "no authentication" in err


def test_serve_without_the_web_extra_says_what_to_install(monkeypatch, capsys):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **kw):
        if name == "uvicorn":
            raise ModuleNotFoundError("No module named 'uvicorn'", name="uvicorn")
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", fake)
    assert main(["serve", "--no-browser"]) == 2
    assert 'pip install "mgflux[web]"' in capsys.readouterr().err
