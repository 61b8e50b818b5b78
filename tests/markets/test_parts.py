"""Streamed Monte Carlo output written by the tasks themselves (``PartWriter``): one part per
batch, named by its task index, written to a temporary dot-name and renamed, so a batch run
again overwrites its own part and a killed writer leaves nothing a reader sees."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from carbonlink.cli import main
from carbonlink.errors import DocumentError
from carbonlink.markets import uncertainty
from carbonlink.markets.uncertainty import (
    PartWriter,
    run_samples,
    stream_samples,
    summarise,
    tasks_of,
)
from carbonlink.model.io import load_scenario
from tests.conftest import DASK_FREE_PORT

EXAMPLES = Path(__file__).parents[2] / "examples" / "scenarios"
FIVE = EXAMPLES / "five-markets-restricted-uncertain.yaml"


def _designs() -> list[Any]:
    sc = load_scenario(FIVE)
    return [sc, sc.model_copy(update={"links": [lk.model_copy(update={"quota": 2.0})
                                                for lk in sc.links]})]


def test_one_part_per_batch_named_by_task_and_read_back_in_order(tmp_path: Path) -> None:
    designs = _designs()
    frame = run_samples(designs, 20, name="five", batch_size=6)
    out = tmp_path / "s.parquet"
    summary = stream_samples(designs, 20, out, name="five", batch_size=6, executor="process",
                             max_workers=2)
    # 4 batches per design (6, 6, 6, 2 samples), numbered across designs
    assert sorted(p.name for p in out.iterdir()) == [f"part-{i:08d}.parquet" for i in range(8)]
    back = pd.read_parquet(out)  # a dataset directory: parts in name order
    assert back["design"].tolist() == frame["design"].tolist()
    assert back["sample"].tolist() == frame["sample"].tolist()
    np.testing.assert_array_equal(back["value"].to_numpy(), frame["value"].to_numpy())
    pd.testing.assert_frame_equal(summary, summarise(frame), check_dtype=False)
    assert [p.name for p in tmp_path.iterdir()] == ["s.parquet"]  # no .partial, no .tmp
    # a second run replaces the first whole (here: fewer samples, so fewer parts)
    stream_samples(designs, 5, out, name="five", batch_size=6)
    assert sorted(p.name for p in out.iterdir()) == ["part-00000000.parquet",
                                                     "part-00000001.parquet"]
    assert len(pd.read_parquet(out)) == len(run_samples(designs, 5, name="five"))


def test_a_batch_run_again_overwrites_its_part(tmp_path: Path) -> None:
    designs = _designs()
    task = tasks_of(designs, 12, batch_size=4)[4]  # design 1, samples 4-7
    assert task[1] == 1 and task[4:] == (4, 8)
    writer = PartWriter(str(tmp_path), "five", ".parquet")
    first = writer(task)
    once = pd.read_parquet(writer.path(task[0]))
    second = writer(task)  # the retry of a batch whose worker died after writing
    assert [p.name for p in tmp_path.iterdir()] == ["part-00000004.parquet"]
    pd.testing.assert_frame_equal(pd.read_parquet(writer.path(task[0])), once)
    np.testing.assert_array_equal(first.values, second.values)
    # only the summarised rows travel back to the client
    assert {v.split("|")[0] for v in first.variables} <= {"price", "gain", "binding"}
    assert first.samples.tolist() == [4, 5, 6, 7] and first.batched + first.fallback == 4


def test_a_writer_dying_mid_write_leaves_no_part(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow.parquet as pq

    task = tasks_of(_designs(), 4)[0]
    writer = PartWriter(str(tmp_path), "five", ".parquet")
    real = pq.write_table

    def half(table: Any, where: Any, **kw: Any) -> None:
        Path(where).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pq, "write_table", half)
    with pytest.raises(OSError, match="disk full"):
        writer(task)
    assert list(tmp_path.iterdir()) == []  # neither the part nor its temporary name
    monkeypatch.setattr(pq, "write_table", real)
    writer(task)
    assert len(pd.read_parquet(writer.path(0))) > 0


def test_leftovers_of_a_killed_writer_are_not_in_the_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker killed between writing its temporary file and renaming it leaves a dot-file;
    the batch runs again elsewhere. The output holds the parts only, CSV as well."""
    designs = _designs()
    real = PartWriter.write

    def killed_once(self: PartWriter, c: Any) -> Path:
        final = self.path(c.index)
        if c.index == 1:
            final.with_name(f".{final.name}.dead.tmp").write_bytes(b"half")
        return real(self, c)

    monkeypatch.setattr(PartWriter, "write", killed_once)
    frame = run_samples(designs, 9, name="five", batch_size=4)
    out = tmp_path / "s.parquet"
    stream_samples(designs, 9, out, name="five", batch_size=4)
    assert sorted(p.name for p in out.iterdir()) == [f"part-{i:08d}.parquet" for i in range(6)]
    np.testing.assert_array_equal(pd.read_parquet(out)["value"].to_numpy(),
                                  frame["value"].to_numpy())
    csv = tmp_path / "s.csv"
    table = pd.DataFrame({"design": [0, 1], "links[*].quota": [None, 2.0]})
    stream_samples(designs, 9, csv, name="five", batch_size=4, design_table=table)
    back = pd.read_csv(csv)
    assert list(back.columns) == [*frame.columns, "links[*].quota"]
    np.testing.assert_allclose(back["value"].to_numpy(), frame["value"].to_numpy())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv", "s.parquet"]


def test_probe_reports_a_folder_a_worker_cannot_see(tmp_path: Path) -> None:
    assert "No such file" in str(uncertainty._probe(str(tmp_path / "elsewhere"), "t0k"))
    (tmp_path / ".probe-t0k").write_text("other", encoding="utf-8")
    assert "another token" in str(uncertainty._probe(str(tmp_path), "t0k"))
    (tmp_path / ".probe-t0k").write_text("t0k", encoding="utf-8")
    assert uncertainty._probe(str(tmp_path), "t0k") is None


def test_remote_workers_without_the_output_folder_exit_2(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """``--scheduler``: the workers write the parts, so a worker that cannot see the output
    folder (here: the probe answers as a worker on another machine would) stops the sweep
    before any batch, with exit 2 naming --out, and nothing is written."""
    from distributed import LocalCluster

    def elsewhere(folder: str, token: str) -> str:
        return f"[Errno 2] No such file or directory: '{folder}/.probe-{token}'"

    monkeypatch.setattr(uncertainty, "_probe", elsewhere)
    out = tmp_path / "s.parquet"
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=None, scheduler_kwargs=DASK_FREE_PORT) as cluster, \
            pytest.raises(SystemExit) as exc:
        main(["sweep", str(FIVE), "--samples", "4", "--executor", "dask",
              "--scheduler", cluster.scheduler_address, "-o", str(out)])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert "--out" in err and "share" in err and "No such file" in err
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DocumentError, match="--out"):
        stream_samples(_designs(), 4, tmp_path / "s.txt")


def test_a_directory_that_is_not_an_earlier_output_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "s.parquet"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(DocumentError, match="--out") as err:
        stream_samples(_designs(), 3, out, name="five")
    assert "other than" in str(err.value)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["s.parquet"]
