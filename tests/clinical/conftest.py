from __future__ import annotations

import pytest


@pytest.fixture
def preoperative() -> dict[str, object]:
    return {"age_years": 48, "comorbidity": "no", "hpv_status": "hpv16_18", "scca_ng_ml": 2.1,
            "leep_history": "no"}


@pytest.fixture
def postoperative(preoperative: dict[str, object]) -> dict[str, object]:
    return {
        **preoperative,
        "figo_stage": "IB1", "surgery_approach": "laparoscopic", "operative_time_min": 180,
        "blood_loss_ml": 200, "transfusion": "no", "adjuvant_therapy": "yes",
        "tumor_size_cm": 3.2, "histology": "squamous", "stromal_invasion_depth": "outer_third",
        "lvsi": "yes", "margin_involved": "no", "parametrial_involvement": "no",
        "lymph_node_metastasis": "pelvic", "keratinization": "yes", "differentiation": "unknown",
        "p53": "positive", "p16": "positive", "ki67_index": "40_60",
    }
