"""Search space and policies."""

from __future__ import annotations

from threedb.config.experiment import ControlSpec
from threedb.policies.grid_search import GridSearchPolicy
from threedb.policies.random_search import RandomSearchPolicy
from threedb.scheduling.search_space import SearchSpace


def test_search_space_unpacks_ranges_and_fixed():
    spec = ControlSpec(module="m", class_name="OrientationControl", args={},
                       continuous={"rotation_x": ("fixed", 0.5), "rotation_z": ("range", (-2.0, 2.0))},
                       discrete={"mode": ["a", "b", "c"]})
    space = SearchSpace([spec])
    assert space.continuous_dim == 1
    assert space.discrete_sizes == [3]
    params = space.unpack([0.25], [2])
    assert params == {"OrientationControl.rotation_z": -1.0, "OrientationControl.mode": "c",
                      "OrientationControl.rotation_x": 0.5}


def test_grid_covers_every_combination():
    policy = GridSearchPolicy(2, [3], samples_per_dim=3)
    points = policy.points()
    assert len(points) == 27
    assert policy.hint_scheduler() == (1, 27)
    assert {p[0][0] for p in points} == {0.0, 0.5, 1.0}
    assert {p[1][0] for p in points} == {0, 1, 2}


def test_grid_passes_batches_and_receives_results():
    policy = GridSearchPolicy(1, [], samples_per_dim=5, batch_size=2)
    seen = []

    def render(batch):
        seen.append(len(batch))
        return [{"is_correct": True} for _ in batch]

    policy.run(render)
    assert seen == [2, 2, 1]


def test_random_search_is_deterministic_per_seed():
    first = RandomSearchPolicy(3, [4], samples=10, seed=7).points()
    second = RandomSearchPolicy(3, [4], samples=10, seed=7).points()
    other = RandomSearchPolicy(3, [4], samples=10, seed=8).points()
    assert first == second
    assert first != other
    assert all(0.0 <= v <= 1.0 for point in first for v in point[0])
    assert all(0 <= point[1][0] < 4 for point in first)


def test_grid_accepts_3db_samples_name():
    assert GridSearchPolicy(1, [], samples=4).hint_scheduler() == (1, 4)
    assert GridSearchPolicy.validate_args({"samples": 4}) == []
    assert GridSearchPolicy.validate_args({})[0][0] == "samples_per_dim"
