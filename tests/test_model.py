"""Model files: every parameter has a unit and a source; malformed models give clear errors."""
import re

import pytest

import mgflux
from mgflux import available_models, models_dir

ADULT = (models_dir() / "adult.toml").read_text()


@pytest.mark.parametrize("name", available_models())
def test_every_shipped_model_loads_and_solves(name):
    path = models_dir() / f"{name}.toml"
    m = mgflux.load_model(path)
    assert all(p.source.strip() and p.unit for p in m.parameters)
    refs = set(m.references)
    for p in m.parameters:  # every cited key that looks like AuthorYear is in [references]
        for key in re.findall(r"\b([A-Z][A-Za-z]+\d{4})\b", p.source):
            assert key in refs, f"{p.name}: source {key} not in [references]"
    sc = mgflux.scenario_from_dict({"scenario": {"name": "t", "model": name, "duration": "5 day"}})
    assert mgflux.simulate(sc).final["serum_mg_total_mM"] > 0


def _load(tmp_path, text, module=None):
    """Load a model text from a folder that also holds the shipped modules (or a changed calcium module)."""
    (tmp_path / "modules").mkdir(exist_ok=True)
    for f in (models_dir() / "modules").glob("*.toml"):
        (tmp_path / "modules" / f.name).write_text(f.read_text())
    if module is not None:
        (tmp_path / "modules" / "calcium.toml").write_text(module)
    p = tmp_path / "m.toml"
    p.write_text(text)
    return mgflux.load_model(p), p


BROKEN = {
    "unit mismatch in a sum": (
        'oral_intake = { formula = "diet_mg_intake * intake_factor + supplement_available"',
        'oral_intake = { formula = "diet_mg_intake * intake_factor + ecf_volume"', ["units do not match"]),
    "declared unit wrong": (
        'serum_total = { formula = "ecf / ecf_volume", unit = "mM"',
        'serum_total = { formula = "ecf / ecf_volume", unit = "mmol"', ["serum_total", "declared 'mmol'"]),
    "unknown name in formula": (
        'rate = "urine_rate"', 'rate = "urin_rate"', ["unknown name 'urin_rate'", "Did you mean 'urine_rate'"]),
    "dimensional Hill base": (
        '(serum_ionized * casr_activity / casr_ec50) ** casr_hill', '(serum_ionized * casr_activity) ** casr_hill',
        ["must be dimensionless"]),
    "missing source": ('source = "Degen1996"', 'source = ""', ["source is empty"]),
    "bad unit": ('unit = "mL/min"', 'unit = "mL/minn"', ["mL/minn"]),
    "forbidden function": ('log(2)', 'max(2)', ["only exp, log, sqrt"]),
    "conditional": ('formula = "ecf / ecf_volume"', 'formula = "ecf / ecf_volume if ecf else 0"',
                    ["serum_total", "IfExp is not allowed", "smooth arithmetic"]),
    "not a formula": ('formula = "ecf / ecf_volume"', 'formula = "ecf / "', ["serum_total", "cannot parse formula"]),
    "flux to a non-pool": ('to = "intracellular_fast"', 'to = "trpm6"', ["not a pool"]),
}


@pytest.mark.parametrize("case", BROKEN)
def test_broken_model_message(case, tmp_path):
    old, new, fragments = BROKEN[case]
    assert old in ADULT
    with pytest.raises(mgflux.ModelError) as exc:
        _load(tmp_path, ADULT.replace(old, new, 1))
    for f in fragments:
        assert f in str(exc.value), str(exc.value)


def test_parameter_values_in_internal_units():
    m = mgflux.get_model()
    val = {p.name: p.value for p in m.parameters}
    assert val["gfr"] == pytest.approx(172.8)  # 120 mL/min in L/day
    assert val["diet_mg_intake"] == pytest.approx(300 / 24.305)  # mg/day of Mg in mmol/day
    assert val["si_transit_time"] == pytest.approx(4 / 24)  # hours in days


def test_citations_cover_parameters():
    m = mgflux.get_model()
    assert "Gullestad1994" in m.references and "AvioliBerman1966" in m.references


def test_model_from_text_equals_file(tmp_path, monkeypatch):
    # what a Dask worker on another machine does: rebuild the model from the text of its file
    monkeypatch.setenv("MGFLUX_CACHE_DIR", str(tmp_path))
    from mgflux import model_from_text

    ref = mgflux.get_model()
    m = model_from_text(ref.source_files(), "adult")  # the model file and its modules
    assert m.parameter_names == ref.parameter_names
    assert list(m.parameter_vector()) == list(ref.parameter_vector())
    assert str(m.path).startswith(str(tmp_path))


def test_population_data_file_is_not_listed_as_a_model():
    assert "adult" in available_models() and "population" not in available_models()


CALCIUM = (models_dir() / "modules" / "calcium.toml").read_text()


def test_module_is_merged_and_pools_carry_their_ion():
    m = mgflux.get_model()
    assert m.includes == ("modules/calcium.toml",)
    assert set(m.pools_of("ca")) == {"ca_ecf", "ca_bone_exchangeable"}
    assert "ca_ecf" not in m.pools_of("mg")
    assert "PetersonRiggs2010" in m.references and "serum_ca_total_mM" in m.targets


@pytest.mark.parametrize("case", ["clash", "missing", "ion", "bad ion"])
def test_module_errors(case, tmp_path):
    text, module = ADULT, CALCIUM
    if case == "clash":
        module = module.replace("[parameters.diet_ca_intake]", "[parameters.gfr]", 1)
        want = "'gfr' is already defined"
    elif case == "missing":
        text = text.replace('include = ["modules/calcium.toml"]', 'include = ["modules/calcum.toml"]')
        want = "does not exist"
    elif case == "ion":
        module = module.replace('from = "ca_ecf"\nto = "ca_bone_exchangeable"', 'from = "ecf"\nto = "ca_bone_exchangeable"')
        want = "hold different ions"
    else:
        module = module.replace('ion = "ca"', 'ion = "k"', 1)
        want = "unknown ion 'k'"
    with pytest.raises(mgflux.ModelError) as exc:
        _load(tmp_path, text, module)
    assert want in str(exc.value), str(exc.value)


def test_readouts_are_declared_with_the_model(tmp_path):
    """models/readouts.toml gives every model the shared readouts; a model file adds its own [readouts.NAME]
    (checked names, did-you-mean), which results and --json then carry."""
    from mgflux import model_from_text

    text = (models_dir() / "adult.toml").read_text()
    own = text + '\n[readouts.serum_mg_total_mEq_L]\nformula = "2 * serum_mg_total_mM"\nunit = "mEq/L"\n'
    model = model_from_text(own, name="adult_with_meq")
    sc = mgflux.scenario_from_dict({"scenario": {"name": "meq", "model": str(model.path)}}, where="<test>")
    ss = mgflux.steady_state(sc)
    assert ss["serum_mg_total_mEq_L"] == pytest.approx(2 * ss["serum_mg_total_mM"], rel=1e-15)
    assert set(mgflux.READOUTS) <= set(ss.readouts) and isinstance(ss.to_dict()["hypomagnesemia_grade"], int)
    bad = text + '\n[readouts.x]\nformula = "serum_totl * 2"\nunit = "mM"\n'
    with pytest.raises(mgflux.ModelError, match="serum_totl.*Did you mean 'serum_total'"):
        mgflux.steady_state(mgflux.scenario_from_dict(
            {"scenario": {"name": "bad", "model": str(model_from_text(bad, name="bad_readout").path)}}, where="<t>"))


def test_editing_a_module_loads_afresh(tmp_path, monkeypatch):
    """The load cache (model/store.py) keys a model by its file and its modules' texts: a changed module is read."""
    monkeypatch.setenv("MGFLUX_CACHE_DIR", str(tmp_path / "cache"))
    m1, p = _load(tmp_path, ADULT)
    a = mgflux.get_model(p)
    assert a.parameters[a.parameter_index("diet_ca_intake")].given == 25
    import time

    time.sleep(0.01)
    (tmp_path / "modules" / "calcium.toml").write_text(
        CALCIUM.replace("[parameters.diet_ca_intake]\nvalue = 25", "[parameters.diet_ca_intake]\nvalue = 30", 1))
    b = mgflux.get_model(p)
    assert b.parameters[b.parameter_index("diet_ca_intake")].given == 30
