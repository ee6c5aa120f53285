"""Verification planning and the fit -> plan -> verify -> refit loop, on small made-up bursty records."""
import numpy as np
import pandas as pd
import pytest

from occupancy.derived import conditional_set
from occupancy.fit import check_config, run as run_fit
from occupancy.inference import SamplerSpec, fit
from occupancy.model import ModelSpec
from occupancy.plan import run as run_plan, unit_use_probability
from occupancy.simulate import FieldPattern, simulate_bursty
from core.runs import compose_config

SPECIES = ("lynx", "deer")
INTERACTIONS = (("lynx", "deer"),)
CONDITIONALS = conditional_set(SPECIES, [{"species": "lynx", "given": ["deer"]}])
NATURAL = {"lynx": -0.3, "deer": 0.6, "lynx:deer": 0.8}
DETECTION = {"lynx": 0.4, "deer": 0.55}
# per-sequence Pr(label | true): lynx, deer, other; many people pass, a few of them are read as lynx or deer
CONFUSION = np.array([[0.8, 0.05, 0.15], [0.05, 0.75, 0.2], [0.006, 0.01, 0.984]])
# field-like counts written by hand (not drawn from the model): bursty, overdispersed, busy and quiet sites
PATTERN = FieldPattern(
    sequences_per_use={"lynx": np.array([1, 1, 2, 3, 3, 5, 9]), "deer": np.array([1, 2, 4, 6, 10, 15, 30])},
    photos_per_sequence=np.array([1, 1, 1, 2, 3, 5, 12]),
    traffic=[np.array([3, 0, 5, 2]), np.array([40, 80, 120, 60]), np.array([250, 300, 180, 400]), np.array([10, 12, 8, 15])],
)


def study(seed, verified_fraction=0.0, n_sites=40):
    return simulate_bursty(PATTERN, n_sites=n_sites, n_occasions=6, species=SPECIES, natural=NATURAL,
                           interactions=INTERACTIONS, detection=DETECTION, confusion=CONFUSION, false_site_sd=0.7,
                           classified_fraction=0.6, verified_fraction=verified_fraction, conditionals=CONDITIONALS, seed=seed)


def config(*overrides):
    return compose_config("occupancy/fit", overrides)


def plan_config(*overrides):
    return compose_config("occupancy/plan", overrides)


def study_overrides(path, run_dir, labels):
    return [f"run_dir={run_dir}", "sampler=fast", f"study.records.path={path}", f"labels={labels}",
            "~study.species", "+study.species={lynx:[lynx],deer:[deer]}", "study.interactions=[[lynx,deer]]",
            "study.conditionals=[{species:lynx,given:[deer]}]", "study.occasions.kind=column",
            "study.truth_column=true_label", "study.classifier_column=predicted_label", "study.area_column=area",
            "study.classified_areas=[classified]", "plots=false"]


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("loop")
    sim = study(seed=5)
    records = sim.records.assign(area=np.where(sim.records["classified"], "classified", "manual"),
                                 media_id=[f"m{i:06d}" for i in range(len(sim.records))])
    path = tmp / "records.csv"
    records.drop(columns=["verified"]).to_csv(path, index=False)
    first = run_fit(config(*study_overrides(path, tmp / "first", "classifier_only")))
    review = run_plan(plan_config(f"fit_dir={first}", "budget=0.03", "answer_column=true_label", f"out={tmp / 'review.csv'}"))
    second = run_fit(config(*study_overrides(path, tmp / "second", "planned"), f"labels.verified_path={review}"))
    return sim, records, path, first, review, second


def test_planned_review_list_is_ranked_within_budget_and_readable(loop):
    sim, records, _, _, review_path, _ = loop
    review = pd.read_csv(review_path)
    assert list(review.columns[:3]) == ["rank", "sequence_id", "site"]
    assert review["n_photos"].sum() <= 0.03 * records["classified"].sum()
    assert review["sequence_id"].is_unique and set(review["species"]) <= set(SPECIES)
    assert review["reason"].str.len().min() > 20 and review["verified_label"].notna().all()
    # every planned sequence carries the label of the species it checks, and its photos are listed
    assert (review["classifier_label"] == review["species"]).all()
    photos = records.groupby("sequence_id").size()
    assert (review["media_ids"].str.count(";") + 1).tolist() == photos.loc[review["sequence_id"]].tolist()


def test_verifying_the_planned_sequences_moves_the_fit_toward_the_truth(loop):
    sim, records, _, first, _, second = loop
    classified_sites = set(records.loc[records["classified"], "site"])
    truth = pd.DataFrame(sim.z, index=list(sim.sites), columns=list(SPECIES))

    def site_error(run_dir):
        sites = pd.read_csv(run_dir / "sites.csv", dtype={"site": str})
        sites = sites[sites["site"].isin(classified_sites)]
        return float(np.mean(np.abs(sites["mean"].to_numpy() - [truth.at[s, sp] for s, sp in zip(sites["site"], sites["species"])])))

    before, after = site_error(first), site_error(second)
    assert after < 0.8 * before, (before, after)
    s = pd.read_csv(second / "summary.csv").set_index("parameter")
    for name, value in sim.truth.items():
        assert abs(s.loc[name, "mean"] - value) < 3.5 * s.loc[name, "sd"], (name, value, s.loc[name].to_dict())


def test_review_list_errors_name_the_bad_ids_and_labels(loop, tmp_path):
    _, _, path, first, review_path, _ = loop
    review = pd.read_csv(review_path)
    bad_ids = review.assign(sequence_id=review["sequence_id"].where(review.index > 1, "q999999x"))
    bad_ids.to_csv(tmp_path / "bad_ids.csv", index=False)
    cfg = config(*study_overrides(path, tmp_path / "x", "planned"), f"labels.verified_path={tmp_path / 'bad_ids.csv'}")
    with pytest.raises(ValueError, match="match no classified record.*q999999x"):
        run_fit(cfg)
    bad_labels = review.assign(verified_label=review["verified_label"].where(review.index > 0, "lynks"))
    bad_labels.to_csv(tmp_path / "bad_labels.csv", index=False)
    cfg = config(*study_overrides(path, tmp_path / "y", "planned"), f"labels.verified_path={tmp_path / 'bad_labels.csv'}")
    with pytest.raises(ValueError, match="unknown label.*lynks"):
        run_fit(cfg)
    with pytest.raises(ValueError, match="verified_path is required"):
        check_config(config(*study_overrides(path, tmp_path / "z", "planned")))
    with pytest.raises(FileNotFoundError, match="occupancy.fit run directory"):
        run_plan(plan_config(f"fit_dir={tmp_path}"))
    with pytest.raises(ValueError, match="exactly one of budget"):
        run_plan(plan_config(f"fit_dir={first}", "budget_photos=10"))


def test_a_second_round_keeps_the_first_rounds_rows_and_continues_their_ranks(loop, tmp_path):
    _, _, _, _, review_path, second = loop
    both_path = run_plan(plan_config(f"fit_dir={second}", "budget=0.03", "answer_column=true_label",
                                     f"out={tmp_path / 'review2.csv'}"))
    first, both = pd.read_csv(review_path), pd.read_csv(both_path)
    assert both.head(len(first))[["rank", "sequence_id"]].equals(first[["rank", "sequence_id"]])
    assert len(both) > len(first) and both["sequence_id"].is_unique
    assert both["rank"].tolist() == list(range(1, len(both) + 1))


def test_confusion_fit_recovers_parameters_on_bursty_records():
    sim = study(seed=11, verified_fraction=0.1, n_sites=60)
    result = fit(sim.detection_data("confusion"), ModelSpec(interactions=INTERACTIONS),
                 SamplerSpec(chains=2, draws=300, tune=300, seed=3), CONDITIONALS)
    s = result.summary.set_index("parameter")
    z = {k: abs(s.loc[k, "mean"] - v) / s.loc[k, "sd"] for k, v in sim.truth.items()}
    assert max(z.values()) < 3.5, z
    covered = [s.loc[k, "q2.5"] <= v <= s.loc[k, "q97.5"] for k, v in sim.truth.items()]
    assert np.mean(covered) >= 0.8


def test_use_probability_of_an_unlabelled_month_is_the_missed_visit_share():
    """With a visit the classifier missed as its own parameter (prior.missed_visit), a month without any label of
    the species was used with probability p pi0 / (p pi0 + 1 - p): the false labels' zero cancels out."""
    counts = pd.DataFrame({"species": ["lynx"], "m": [0], "exposure": [25.0], "hit": [0], "miss": [0], "confirmed": [False]})
    params = {"true_label_mean": {"lynx": 2.0}, "true_label_dispersion": {"lynx": 0.5}, "false_rate": {"lynx": 0.01},
              "false_label_dispersion": {"lynx": 0.3}, "p": {"lynx": 0.6}}
    for pi0 in (0.02, 0.3):
        used = unit_use_probability(counts, params | {"missed_visit": {"lynx": pi0}})
        assert used[0] == pytest.approx(0.6 * pi0 / (0.6 * pi0 + 0.4), rel=1e-9)
    # the negative binomial's own zero instead: (1 + 0.5 * 2)^(-1 / 0.5) = 0.25 of visits leave no label (no false ones here)
    nb_zero = unit_use_probability(counts.assign(exposure=1e-9), params)
    assert nb_zero[0] == pytest.approx(0.6 * 0.25 / (0.6 * 0.25 + 0.4), rel=1e-6)
