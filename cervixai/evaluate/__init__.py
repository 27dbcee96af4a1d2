"""``cervixai evaluate``: the system's figures measured through the real serving path.

Every patient of a cohort split goes to the gateway as a postoperative study (HTTP
``POST /v1/assessments`` or gRPC ``Gateway/Assess``), exactly as a hospital sends it; what comes
back is scored against the cohort's outcomes and ground-truth masks. See docs/evaluation.md.

    evaluation = evaluate(cohort, bundle=bundle)      # or gateway="http://127.0.0.1:8080"
    evaluation.write(out_dir)                         # evaluation.json, .md, reliability PNGs
    record_served(bundle, evaluation)                 # metrics["served"] in the manifest
"""

from cervixai.evaluate.api import evaluate
from cervixai.evaluate.record import record_served
from cervixai.evaluate.result import Evaluation

__all__ = ["Evaluation", "evaluate", "record_served"]
