"""The study's encodings: 5 preoperative columns, 57 postoperative ones, min-max and one-hot."""

from __future__ import annotations

import numpy as np
import pytest

from cervixai.clinical import ClinicalEncoder, Stage, plan, validate_record


def test_dimensions_match_the_study() -> None:
    assert len(plan("paper_preoperative").columns) == 5      # 65,541 - 65,536
    assert len(plan("paper_postoperative").columns) == 57    # 65,593 - 65,536
    assert len(plan("paper_postoperative").variables) == 21


def test_unknown_feature_set() -> None:
    with pytest.raises(ValueError, match="unknown clinical feature set 'radiomics'"):
        plan("radiomics")


def test_preoperative_encoding(preoperative) -> None:
    records = [
        validate_record({**preoperative, "age_years": 30, "scca_ng_ml": 1.0}, Stage.PREOPERATIVE),
        validate_record({**preoperative, "age_years": 70, "scca_ng_ml": 11.0,
                         "comorbidity": "yes", "hpv_status": "other", "leep_history": "yes"},
                        Stage.PREOPERATIVE),
    ]
    enc = ClinicalEncoder("paper_preoperative").fit(records)
    x = enc.transform(records)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, [[0, 0, 1, 0, 0], [1, 1, 0, 1, 1]])
    probe = validate_record({**preoperative, "age_years": 40, "scca_ng_ml": 100.0},
                            Stage.PREOPERATIVE)
    # 40 is a quarter of the way from 30 to 70; 100 ng/mL is clipped to the training maximum
    np.testing.assert_allclose(enc.transform([probe])[0, [0, 3]], [0.25, 1.0])


def test_postoperative_one_hot_and_imputation(postoperative) -> None:
    a = validate_record(postoperative, Stage.POSTOPERATIVE)
    b = validate_record({**postoperative, "tumor_size_cm": 5.2, "figo_stage": "iib"},
                        Stage.POSTOPERATIVE)
    c = validate_record({k: v for k, v in postoperative.items() if k != "tumor_size_cm"},
                        Stage.POSTOPERATIVE)
    enc = ClinicalEncoder("paper_postoperative").fit([a, b])
    x = enc.transform([a, b, c])
    names = list(enc.get_feature_names_out())
    assert x.shape == (3, 57)
    # each categorical variable contributes exactly one 1 per record
    categorical = [i for i, n in enumerate(names) if "=" in n]
    assert (x[:, categorical].sum(axis=1) == 16).all()
    assert x[1, names.index("figo_stage=iib")] == 1 and x[1, names.index("figo_stage=ib1")] == 0
    # the missing tumour size takes the training median (4.2 cm), half-way between 3.2 and 5.2
    assert x[2, names.index("tumor_size_cm")] == pytest.approx(0.5)


def test_transform_before_fit_is_an_error(preoperative) -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        ClinicalEncoder("paper_preoperative").transform([preoperative])
