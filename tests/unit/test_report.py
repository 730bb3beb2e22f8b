import json
import math

import pytest

from entrgi import report
from entrgi.eval.aggregate import aggregate, find_runs, mean_sem


def write_run(folder, method, seed, top1, steps=3):
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"method": method, "seed": seed, "top1_reward_mean": top1,
                                                     "avgN_reward_mean": top1 - 1}))
    rec = {"method": method, "trace": {"entropy_mean": [0.9, 0.5, None][:steps]}}
    (folder / "generations.jsonl").write_text(json.dumps(rec) + "\n")


def test_mean_sem():
    mean, sem = mean_sem([1.0, 2.0, 3.0])
    assert mean == 2.0 and sem == pytest.approx(1 / math.sqrt(3))


def test_report_aggregates_a_sweep(tmp_path):
    for i, (method, seed, top1) in enumerate([("bon", 1, 1.0), ("bon", 2, 3.0), ("entrgi", 1, 4.0),
                                              ("entrgi", 2, 5.0), ("entrgi", 3, 6.0)]):
        write_run(tmp_path / str(i), method, seed, top1)
    rows = {r["method"]: r for r in aggregate(find_runs(tmp_path))}
    assert rows["bon"]["top1_reward_mean"] == pytest.approx((2.0, 1.0))
    assert rows["entrgi"]["runs"] == 3 and rows["entrgi"]["seeds"] == [1, 2, 3]
    table = report.main([str(tmp_path), "--plot"])
    assert "| entrgi | 3 | 5.000 ± 0.577 | 4.000 ± 0.577 |" in table
    assert (tmp_path / "report.md").read_text().strip() == table
    assert (tmp_path / "entropy_curves.png").stat().st_size > 1000


def test_report_rejects_a_folder_without_runs(tmp_path):
    with pytest.raises(SystemExit):
        report.main([str(tmp_path)])
