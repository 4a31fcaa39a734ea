"""mgflux: a mechanistic simulator of human magnesium homeostasis.

Public surface::

    import mgflux
    sc = mgflux.load_scenario("scenarios/healthy.toml")
    ss = mgflux.steady_state(sc)          # readouts by name: ss["serum_mg_total_mM"]
    run = mgflux.simulate(sc)             # run["urine_mg_mmol_per_day"], run.time_day, run.dataframe()
"""
from ._catalogue import Catalogue as Catalogue
from ._catalogue import Entry as Entry
from ._model import Model as Model
from ._model import get_model as get_model
from ._model import load_model as load_model
from ._scenario import Scenario as Scenario
from ._scenario import load_scenario as load_scenario
from ._scenario import scenario_from_dict as scenario_from_dict
from ._simulate import READOUTS as READOUTS
from ._simulate import RunResult as RunResult
from ._simulate import SteadyResult as SteadyResult
from ._simulate import citations as citations
from ._simulate import simulate as simulate
from ._simulate import steady_state as steady_state
from ._solve import RunOptions as RunOptions
from ._solve import SteadyOptions as SteadyOptions
from .studies.clinical import clinical_reading as clinical_reading
from .studies.diagnose import diagnose as diagnose
from .studies.loading_test import LoadingTestResult as LoadingTestResult
from .studies.loading_test import loading_test as loading_test
from .errors import IntegrationError as IntegrationError
from .errors import MgfluxError as MgfluxError
from .errors import ModelError as ModelError
from .errors import ScenarioError as ScenarioError
from .errors import SolverError as SolverError
from .errors import SteadyStateError as SteadyStateError
from .errors import UnitError as UnitError

__version__ = "0.1.0"

__all__ = [
    "Catalogue", "Entry", "Model", "get_model", "load_model", "Scenario", "load_scenario", "scenario_from_dict",
    "READOUTS", "RunResult", "citations", "clinical_reading", "loading_test", "LoadingTestResult", "diagnose", "SteadyResult", "simulate", "steady_state", "RunOptions", "SteadyOptions",
    "IntegrationError", "MgfluxError", "ModelError", "ScenarioError", "SolverError", "SteadyStateError",
    "UnitError", "__version__",
]
