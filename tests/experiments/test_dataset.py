"""Datasets: what the loader accepts, and a clear error naming the row and column (exit 2) for what it does not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmsight.cli.main import app
from llmsight.experiments.dataset import DatasetError, load_dataset, write_dataset

runner = CliRunner()


def jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_jsonl_with_mapping_reads_every_field_and_keeps_extra_columns(tmp_path):
    path = jsonl(tmp_path / "d.jsonl", [
        {"case": "a", "input": "Q1?", "docs": ["doc one", {"content": "doc two"}], "expected": "A1", "tier": "gold"},
        {"case": "b", "input": "Q2?", "docs": "one text", "output": "given"},
    ])  # fmt: skip
    data = load_dataset(path, "id=case,question=input,context=docs,ground_truth=expected,answer=output")
    first, second = data.rows
    assert (first.id, first.question, first.context, first.ground_truth, dict(first.extra)) == (
        "a", "Q1?", ("doc one", "doc two"), "A1", {"tier": "gold"}
    )  # fmt: skip
    assert (second.context, second.answer, second.ground_truth) == (("one text",), "given", "")


def test_the_same_rows_in_csv_hash_alike_and_a_csv_cell_holds_a_json_list(tmp_path):
    rows = [{"id": "r1", "question": "Q?", "context": ["a", "b"], "ground_truth": "G"}, {"id": "r2", "question": "P?"}]
    write_dataset(tmp_path / "d.csv", rows)
    write_dataset(tmp_path / "d.jsonl", rows)
    from_csv, from_jsonl = load_dataset(tmp_path / "d.csv"), load_dataset(tmp_path / "d.jsonl")
    assert from_csv.rows[0].context == ("a", "b") and from_csv.hash == from_jsonl.hash
    assert [r.id for r in from_csv.rows] == ["r1", "r2"]


def test_rows_without_an_id_are_numbered_and_a_changed_row_changes_the_hash(tmp_path):
    a = load_dataset(jsonl(tmp_path / "a.jsonl", [{"question": "x?"}, "", {"question": "y?"}]))
    b = load_dataset(jsonl(tmp_path / "b.jsonl", [{"question": "x?"}, {"question": "z?"}]))
    assert [r.id for r in a.rows] == ["row-1", "row-2"] and a.hash != b.hash


@pytest.mark.parametrize(
    ("lines", "mapping", "message"),
    [
        (['{"question": "ok?"}', '{"question": "fine?"', '{"question": "x"}'], "", "row 2 (line 2): not valid JSON"),
        (['{"question": "ok?"}', '["a list"]'], "", "row 2 (line 2): expected a JSON object, got list"),
        (['{"question": "ok?"}', "", '{"query": "no question"}'], "",
         "row 2 (line 3), column 'question' (question): missing"),
        (['{"input": "ok?"}'], "question=prompt", "row 1 (line 1), column 'prompt' (question): missing"),
        (['{"question": "ok?"}'], "questoin=input", "unknown mapped name 'questoin'"),
        (['{"question": "ok?"}'], "ground_truth=expected",
         "--map ground_truth=expected: no row has column(s) 'expected'"),
        (['{"question": "ok?", "id": 1}', '{"question": "b?", "id": 1}'], "",
         "row 2 (line 2), column 'id': id '1' is also row 1"),
        (['{"question": ["not", "text"]}'], "", "row 1 (line 1), column 'question': expected text, got list"),
        (['{"question": "q?", "context": [1, 2]}'], "", "row 1 (line 1), column 'context': document 0 is not text"),
        (['{"question": "  "}'], "", "row 1 (line 1), column 'question' (question): empty"),
    ],
)  # fmt: skip
def test_bad_rows_are_errors_naming_the_row_and_column(tmp_path, lines, mapping, message):
    path = jsonl(tmp_path / "bad.jsonl", lines)
    with pytest.raises(DatasetError) as caught:
        load_dataset(path, mapping)
    assert message in str(caught.value)
    assert str(path) in str(caught.value) or str(caught.value).startswith("--map:")  # a flag's error names the flag


def test_csv_row_with_more_cells_than_the_header_names_its_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text('id,question\nr1,"How, exactly?"\nr2,why?,extra\n')
    with pytest.raises(DatasetError, match=r"row 2 \(line 3\): more values than the header's 2"):
        load_dataset(path)


def test_unknown_format_and_missing_file(tmp_path):
    (tmp_path / "d.parquet").write_bytes(b"PAR1")
    with pytest.raises(DatasetError, match="unknown format .parquet"):
        load_dataset(tmp_path / "d.parquet")
    with pytest.raises(DatasetError, match="cannot read"):
        load_dataset(tmp_path / "nope.jsonl")


@pytest.mark.usefixtures("eval_env")
def test_eval_run_on_a_bad_dataset_exits_2_naming_row_and_column_and_stores_nothing(tmp_path, store_client):
    path = jsonl(tmp_path / "bad.jsonl", ['{"question": "ok?"}', '{"prompt": "where is the question?"}'])
    result = runner.invoke(app, ["eval", "run", str(path), "--name", "bad", "--target", "worse_app:answer"])
    assert result.exit_code == 2, result.output
    assert "row 2 (line 2), column 'question' (question): missing" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    mapped = runner.invoke(app, ["eval", "run", str(path), "--name", "bad", "--map", "question=input"])
    assert mapped.exit_code == 2 and "column 'input' (question): missing" in " ".join(mapped.output.split())
    unanswered = jsonl(tmp_path / "no-answer.jsonl", [{"id": "q1", "question": "ok?"}])
    no_target = runner.invoke(app, ["eval", "run", str(unanswered), "--name", "bad"])
    assert no_target.exit_code == 2 and "row 'q1', column 'answer': empty" in " ".join(no_target.output.split())
    assert int(store_client.command("SELECT count() FROM experiment_runs")) == 0


def test_a_json_file_may_hold_one_array_of_rows(tmp_path):
    rows = [{"id": "a", "question": "Q1?"}, {"id": "b", "question": "Q2?", "context": ["d"]}]
    (tmp_path / "d.json").write_text(json.dumps(rows, indent=2))
    assert [r.id for r in load_dataset(tmp_path / "d.json").rows] == ["a", "b"]
    assert load_dataset(tmp_path / "d.json").hash == load_dataset(jsonl(tmp_path / "d.jsonl", rows)).hash
    (tmp_path / "bad.json").write_text(json.dumps([{"question": "ok?"}, "text"]))
    with pytest.raises(DatasetError, match=r"row 2 \(item 2 of the array\): expected a JSON object, got str"):
        load_dataset(tmp_path / "bad.json")
