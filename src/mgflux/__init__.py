"""mgflux: a mechanistic simulator of human magnesium homeostasis.

Public surface (every command has a function; results have ``dataframe()`` and ``to_dict()``, the CLI's
``--json``)::

    import mgflux
    sc = mgflux.load_scenario("scenarios/healthy.toml")
    ss = mgflux.steady_state(sc)                             # mgflux steady: ss["serum_mg_total_mM"]
    run = mgflux.simulate(sc)                                # mgflux run: run["urine_mg_mmol_per_day"], run.time_day
    many = mgflux.steady_states(sc, {"gfr": [60, 90, 120]})  # a batch; mgflux.timecourses likewise
    mgflux.sweep(sc, ["gfr=30:150:13"]); mgflux.population(sc, 10000); mgflux.sensitivity(sc)
    mgflux.compare(sc); mgflux.find_dose(sc, "magnesium_citrate", "0.7 mM"); mgflux.write_sbml(sc, "m.xml")

Everything else is private: the modules behind these names may change.
"""
from ._paths import cache_dir as cache_dir
from ._paths import models_dir as models_dir
from ._paths import scenarios_dir as scenarios_dir
from ._paths import writable_cache_dir as writable_cache_dir
from .cli.main import main as main
from .errors import IntegrationError as IntegrationError
from .errors import MgfluxError as MgfluxError
from .errors import MgfluxWarning as MgfluxWarning
from .errors import ModelError as ModelError
from .errors import OptionsError as OptionsError
from .errors import ScenarioError as ScenarioError
from .errors import SolverError as SolverError
from .errors import SteadyStateError as SteadyStateError
from .errors import UnitError as UnitError
from .io.petab import lint_petab as lint_petab
from .io.petab import write_petab as write_petab
from .io.sbml import SbmlError as SbmlError
from .io.sbml import consistency_problems as sbml_problems
from .io.sbml import to_sbml as to_sbml
from .io.sbml import write_sbml as write_sbml
from .model.catalogue import Catalogue as Catalogue
from .model.catalogue import Entry as Entry
from .model.catalogue import get_catalogue as get_catalogue
from .model.catalogue import load_catalogue as load_catalogue
from .model.model import Model as Model
from .model.model import available_models as available_models
from .model.model import get_model as get_model
from .model.model import load_model as load_model
from .model.model import model_from_text as model_from_text
from .model.parameters import Factor as Factor
from .model.parameters import factor as factor
from .model.parameters import parameter_sets as parameter_sets
from .model.patient import Patient as Patient
from .model.patient import parse_patient as parse_patient
from .model.readouts import READOUTS as READOUTS
from .model.readouts import hypermagnesemia_grade as hypermagnesemia_grade
from .model.readouts import hypocalcemia_grade as hypocalcemia_grade
from .model.readouts import hypomagnesemia_grade as hypomagnesemia_grade
from .model.scenario import Scenario as Scenario
from .model.scenario import load_scenario as load_scenario
from .model.scenario import output_times as output_times
from .model.scenario import scenario_from_dict as scenario_from_dict
from .model.validate import domain_warnings as domain_warnings
from .model.validate import validate_scenario as validate_scenario
from .model.validate import validation_report as validation_report
from .options import BatchOptions as BatchOptions
from .options import Execution as Execution
from .options import RunOptions as RunOptions
from .options import SteadyOptions as SteadyOptions
from .options import TimecourseOptions as TimecourseOptions
from .results import BatchResult as BatchResult
from .results import RunResult as RunResult
from .results import Status as Status
from .results import SteadyResult as SteadyResult
from .results import TimecourseResult as TimecourseResult
from .results import to_json as to_json
from .run import citations as citations
from .run import simulate as simulate
from .run import steady_state as steady_state
from .run import steady_states as steady_states
from .run import timecourses as timecourses
from .studies.calibration import ca_phenotype_met as ca_phenotype_met
from .studies.calibration import calibration_tables as calibration_tables
from .studies.calibration import committed_calibration_tables as committed_calibration_tables
from .studies.calibration import write_calibration_tables as write_calibration_tables
from .studies.clinical import clinical_reading as clinical_reading
from .studies.clinical import reading_data as clinical_reading_data
from .studies.compare import compare as compare
from .studies.diagnose import diagnose as diagnose
from .studies.diagnose import load_labs as load_labs
from .studies.dose import find_dose as find_dose
from .studies.fit import coverage as fit_coverage
from .studies.fit import fit as fit
from .studies.fit import fit_sensitivities as fit_sensitivities
from .studies.fit import simulated_data as simulated_data
from .studies.incidence import drug_incidence_table as drug_incidence_table
from .studies.incidence import drug_scenario_file as drug_scenario_file
from .studies.loading_test import LoadingTestResult as LoadingTestResult
from .studies.loading_test import interpret as interpret_retention
from .studies.loading_test import loading_test as loading_test
from .studies.population import PopulationSpec as PopulationSpec
from .studies.population import RiskFactor as RiskFactor
from .studies.population import load_population_spec as load_population_spec
from .studies.population import parse_incidence as parse_incidence
from .studies.population import population as population
from .studies.population import population_design as population_design
from .studies.sensitivity import sensitivity as sensitivity
from .studies.sweep import Vary as Vary
from .studies.sweep import design as design
from .studies.sweep import parse_vary as parse_vary
from .studies.sweep import sweep as sweep

__version__ = "0.1.0"

__all__ = [
    "Catalogue", "Entry", "Model", "get_model", "load_model", "Scenario", "load_scenario", "scenario_from_dict", "validate_scenario",
    "READOUTS", "RunResult", "citations", "SteadyResult", "simulate", "steady_state", "RunOptions", "SteadyOptions",
    "clinical_reading", "loading_test", "LoadingTestResult", "diagnose", "load_labs", "fit", "write_petab",
    "IntegrationError", "MgfluxError", "MgfluxWarning", "ModelError", "OptionsError", "ScenarioError", "SolverError",
    "SteadyStateError", "UnitError", "__version__", "BatchOptions", "Execution", "TimecourseOptions", "BatchResult", "Status",
    "TimecourseResult", "steady_states", "timecourses", "sweep", "population", "sensitivity", "compare", "find_dose",
    "write_sbml", "to_sbml", "models_dir", "scenarios_dir", "main", "get_catalogue", "load_catalogue", "parameter_sets",
    "hypomagnesemia_grade", "drug_incidence_table", "drug_scenario_file", "PopulationSpec", "RiskFactor",
    "load_population_spec", "available_models", "model_from_text", "Factor", "factor", "population_design", "Vary",
    "parse_vary", "design", "hypermagnesemia_grade",
    # the second edition's public face for what tests, benchmarks and users reached into modules for (issue 9)
    "cache_dir", "writable_cache_dir", "lint_petab", "SbmlError", "sbml_problems", "Patient", "parse_patient",
    "hypocalcemia_grade", "output_times", "domain_warnings", "validation_report", "to_json", "ca_phenotype_met",
    "calibration_tables", "committed_calibration_tables", "write_calibration_tables", "clinical_reading_data",
    "parse_incidence", "fit_sensitivities", "fit_coverage", "simulated_data", "interpret_retention",
]
