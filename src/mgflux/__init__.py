"""mgflux: a mechanistic simulator of human magnesium homeostasis.

Public surface::

    import mgflux
    sc = mgflux.load_scenario("scenarios/healthy.toml")
    ss = mgflux.steady_state(sc)          # readouts by name: ss["serum_mg_total_mM"]
    run = mgflux.simulate(sc)             # run["urine_mg_mmol_per_day"], run.time_day, run.dataframe()
"""
from .errors import IntegrationError as IntegrationError
from .errors import MgfluxError as MgfluxError
from .errors import ModelError as ModelError
from .errors import ScenarioError as ScenarioError
from .errors import SolverError as SolverError
from .errors import SteadyStateError as SteadyStateError
from .errors import UnitError as UnitError
from .model.catalogue import Catalogue as Catalogue
from .model.catalogue import Entry as Entry
from .model.model import Model as Model
from .model.model import get_model as get_model
from .model.model import load_model as load_model
from .model.readouts import READOUTS as READOUTS
from .model.scenario import Scenario as Scenario
from .model.scenario import load_scenario as load_scenario
from .model.scenario import scenario_from_dict as scenario_from_dict
from .options import RunOptions as RunOptions
from .options import SteadyOptions as SteadyOptions
from .results import RunResult as RunResult
from .results import SteadyResult as SteadyResult
from .run import citations as citations
from .run import simulate as simulate
from .run import steady_state as steady_state

__version__ = "0.1.0"

__all__ = [
    "Catalogue", "Entry", "Model", "get_model", "load_model", "Scenario", "load_scenario", "scenario_from_dict",
    "READOUTS", "RunResult", "citations", "SteadyResult", "simulate", "steady_state", "RunOptions", "SteadyOptions",
    "IntegrationError", "MgfluxError", "ModelError", "ScenarioError", "SolverError", "SteadyStateError",
    "UnitError", "__version__",
]
