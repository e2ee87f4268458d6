"""The one job schema: what it accepts, and errors that name the field."""

import pytest

from jupyter_ft.core.spec.train import SpecError, TrainSpec, flatten, parse_spec


def fields(exc: SpecError) -> dict[str, str]:
    return dict(exc.errors)


def test_minimal_spec_gets_defaults():
    s = parse_spec({"model": "m", "dataset": "d.jsonl"})
    assert s.technique == "sft" and s.lora is not None and s.lora.target_modules == "all-linear"
    assert s.sft is not None and s.sft.completion_only_loss is True
    assert s.learning_rate is None and s.batch_size is None  # auto, filled by sizing


@pytest.mark.parametrize(
    "bad, field, words",
    [
        ({"technique": "magic"}, "technique", "unknown technique 'magic'"),
        ({"learning_rate": -1e-4}, "learning_rate", "greater than 0"),
        ({"lora": {"r": 0}}, "lora.r", "greater than 0"),
        ({"lora": {"rank": 8}}, "lora.rank", "unknown field"),
        ({"epochs": 0}, "epochs", "greater than 0"),
        ({"device": "tpu"}, "device", "auto, cpu, cuda"),
        ({"colour": "red"}, "colour", "unknown field"),
    ],
)
def test_bad_field_is_named(bad, field, words):
    with pytest.raises(SpecError) as ei:
        parse_spec({"model": "m", "dataset": "d.jsonl", **bad})
    assert words in fields(ei.value)[field]
    assert field in str(ei.value)


def test_missing_fields_are_named():
    with pytest.raises(SpecError) as ei:
        parse_spec({"technique": "sft"})
    assert set(fields(ei.value)) == {"model", "dataset"}


def test_yaml_text_and_file(tmp_path):
    text = "model: ./tiny\ndataset: data.jsonl\nlora: false\nlearning_rate: 1e-4\n"
    s = parse_spec(text)
    assert s.lora is None and s.learning_rate == 1e-4
    p = tmp_path / "spec.yaml"
    p.write_text(text)
    assert parse_spec(p) == s
    with pytest.raises(SpecError, match="not valid YAML"):
        parse_spec("model: [unclosed\n")


def test_options_block_must_match_technique():
    with pytest.raises(SpecError) as ei:
        parse_spec({"model": "m", "dataset": "d", "technique": "sft", "sft": {"packing": "sometimes"}})
    assert "sft.packing" in fields(ei.value)


def test_round_trip_and_flatten():
    s = parse_spec({"model": "m", "dataset": "d", "lora": {"r": 4}})
    assert TrainSpec.model_validate_json(s.model_dump_json()) == s
    flat = flatten(s.model_dump(mode="json"))
    assert flat["lora.r"] == 4 and flat["tracking.experiment"] == "jupyter_ft"


@pytest.mark.parametrize("field,value,message", [
    ("weight_decay", float("inf"), "finite"),
    ("epochs", float("inf"), "finite"),
    ("checkpoint_minutes", float("inf"), "finite"),
    ("learning_rate", float("nan"), "finite"),
    ("seed", -1, "greater than or equal to 0"),
    ("seed", 2**80, "less than or equal to 4294967295"),
    ("max_steps", True, "must be an integer"),
    ("name", "x" * 201, "at most 200 characters"),
])
def test_absurd_values_are_refused_naming_the_field(field, value, message):
    with pytest.raises(SpecError) as info:
        parse_spec({"model": "m", "dataset": "d", field: value})
    assert info.value.errors[0][0] == field and message in info.value.errors[0][1]


def test_json_overflow_and_nested_bools_are_refused():
    import json

    with pytest.raises(SpecError, match="weight_decay: Input should be a finite number"):
        parse_spec(json.loads('{"model": "m", "dataset": "d", "weight_decay": 1e309}'))
    with pytest.raises(SpecError, match=r"lora\.r: must be an integer"):
        parse_spec({"model": "m", "dataset": "d", "lora": {"r": True}})
