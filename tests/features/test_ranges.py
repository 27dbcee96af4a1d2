"""The training-range check behind the services' out-of-range warning."""

from __future__ import annotations

import math

import pytest

from cervixai.features.ranges import OutOfRange, check_ranges, out_of_range, warning

RANGES = {"shape_volume_ml": [2.0, 95.3], "intensity_mean": [0.2, 0.6],
          "shape_sphericity": [0.5, 0.9]}


@pytest.mark.parametrize(("values", "expected"), [
    ({"shape_volume_ml": 50.0, "intensity_mean": 0.4, "shape_sphericity": 0.7}, []),
    # bounds are inclusive
    ({"shape_volume_ml": 95.3, "intensity_mean": 0.2, "shape_sphericity": 0.9}, []),
    ({"shape_volume_ml": 142.0, "intensity_mean": 0.4}, [("shape_volume_ml", 142.0)]),
    ({"shape_volume_ml": 1.0, "intensity_mean": 0.7}, [("intensity_mean", 0.7),
                                                       ("shape_volume_ml", 1.0)]),
    # a feature the model has no range for is not checked, nor a range without a value
    ({"texture_contrast": 1e9}, []),
    ({"intensity_mean": math.nan}, [("intensity_mean", math.nan)]),
])
def test_out_of_range(values: dict[str, float], expected: list[tuple[str, float]]) -> None:
    found = out_of_range(values, RANGES)
    assert [f.feature for f in found] == [name for name, _ in expected]
    for f, (_, value) in zip(found, expected, strict=True):
        assert f.value == value or (math.isnan(f.value) and math.isnan(value))
        assert (f.low, f.high) == tuple(RANGES[f.feature])


def test_the_farthest_outside_comes_first() -> None:
    # 0.7 is 0.25 range widths above intensity_mean's range; 1.0 is ~0.011 below volume's
    found = out_of_range({"shape_volume_ml": 1.0, "intensity_mean": 0.7}, RANGES)
    assert found[0].excess == pytest.approx(0.25)
    assert found[1].excess == pytest.approx(1.0 / 93.3)


@pytest.mark.parametrize(("finding", "text"), [
    (OutOfRange("shape_volume_ml", 142.37, 2.0, 95.314), "shape_volume_ml (142 > 95.3)"),
    (OutOfRange("intensity_mean", 0.123456, 0.2, 0.6), "intensity_mean (0.123 < 0.2)"),
    (OutOfRange("shape_surface_mm2", 123456.7, 10.0, 98765.4),
     "shape_surface_mm2 (123000 > 98800)"),
    (OutOfRange("texture_energy", 1.2e-05, 1e-4, 1e-3), "texture_energy (1.2e-05 < 0.0001)"),
])
def test_values_are_rounded_in_the_description(finding: OutOfRange, text: str) -> None:
    assert finding.describe() == text


def test_warning_names_the_model_and_at_most_five_features() -> None:
    assert warning("parametrial_invasion", []) == ""
    one = warning("parametrial_invasion",
                  out_of_range({"shape_volume_ml": 142.0}, RANGES))
    assert one.startswith("parametrial_invasion: image features outside the training range: "
                          "shape_volume_ml (142 > 95.3)")
    assert "more" not in one
    many = [OutOfRange(f"feature_{i}", 2.0 + i, 0.0, 1.0) for i in range(8)]
    text = warning("rfs", many)
    assert text.count("feature_") == 5 and "feature_4 (6 > 1)" in text
    assert "and 3 more" in text


def test_check_ranges_accepts_a_manifest_block_and_names_every_bad_entry() -> None:
    assert check_ranges(RANGES) == {k: (v[0], v[1]) for k, v in RANGES.items()}
    assert check_ranges({}) == {}
    with pytest.raises(ValueError, match=r"a: \[2.0, 1.0\] is not a finite range.*; "
                                         r"b: 'x' is not a \[low, high\] pair"):
        check_ranges({"a": [2.0, 1.0], "b": "x", "c": [0, 1]})
    with pytest.raises(ValueError, match=r"c: \[0.0, inf\]"):
        check_ranges({"c": [0, math.inf]})
    with pytest.raises(ValueError, match="must be an object"):
        check_ranges([[0, 1]])
