import contextlib
import copy
import io
import warnings

import numpy as np
import pandas as pd
import pytest
from neuroCombat import neuroCombat
from sklearn.exceptions import NotFittedError

from medprep_helpers.harmonize import ComBat, combat

SITE_SIZES = {"site_a": 15, "site_b": 25, "site_c": 40, "site_d": 60}


def multisite_data(seed=0, sizes=SITE_SIZES, n_features=40):
    """Features with additive and multiplicative site effects, and mixed covariates."""
    rng = np.random.default_rng(seed)
    site = rng.permutation(np.concatenate([[name] * size for name, size in sizes.items()]))
    n = len(site)
    # Ages on a quarter-year grid: neuroCombat casts continuous covariates to float32, and these
    # survive that cast exactly, so both implementations see the same design matrix.
    age = np.round(rng.uniform(20, 85, n) * 4) / 4
    sex = rng.choice(["F", "M"], n)
    # Categories deliberately not in sorted order: the dropped level must be the first *sorted* one ("AD").
    diagnosis = pd.Categorical(rng.choice(["MCI", "AD", "CN"], n), categories=["MCI", "CN", "AD"])
    smoker = rng.random(n) < 0.3
    names = sorted(sizes)
    site_code = np.searchsorted(names, site)
    shift = rng.normal(0, 1.5, (len(names), n_features))
    scale = rng.uniform(0.5, 2.0, (len(names), n_features))
    values = (
        100
        + 0.4 * age[:, None]
        + 3.0 * (sex == "M")[:, None]
        - 2.0 * (np.asarray(diagnosis) == "AD")[:, None]
        + shift[site_code] * 4
        + scale[site_code] * rng.normal(0, 4, (n, n_features))
    )
    index = pd.Index([f"sub-{i:03d}" for i in range(n)], name="subject")
    features = pd.DataFrame(values, index=index, columns=[f"feature_{j:02d}" for j in range(n_features)])
    covariates = pd.DataFrame({"age": age, "sex": sex, "diagnosis": diagnosis, "smoker": smoker}, index=index)
    return features, pd.Series(site, index=index, name="site"), covariates


def run_neurocombat(features, site, covariates, **options):
    """neuroCombat's harmonized data (subjects x features) and its estimates."""
    continuous = [name for name in covariates if pd.api.types.is_float_dtype(covariates[name])]
    categorical = [name for name in covariates if name not in continuous]
    # A float64 array, features x subjects: neuroCombat casts a DataFrame to float32.
    data = np.ascontiguousarray(features.to_numpy(dtype=float).T)
    covars = covariates.assign(site=np.asarray(site)).reset_index(drop=True)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints every step
        result = neuroCombat(data, covars, "site", categorical, continuous, **options)
    return result["data"].T, result["estimates"], result["info"]


MODES = {
    "parametric_eb": {},
    "mean_only": {"mean_only": True},
    "non_parametric": {"parametric": False},
    "non_parametric_mean_only": {"parametric": False, "mean_only": True},
    "no_eb": {"eb": False},
    "ref_batch": {"ref_batch": "site_b"},
    "ref_batch_mean_only": {"ref_batch": "site_a", "mean_only": True},
    "ref_batch_non_parametric": {"ref_batch": "site_c", "parametric": False},
    "ref_batch_no_eb": {"ref_batch": "site_d", "eb": False},
}


@pytest.mark.parametrize("mode", MODES)
def test_matches_neurocombat(mode, monkeypatch):
    options = MODES[mode]
    features, site, covariates = multisite_data()
    if "ref_batch" in options:
        # neuroCombat's ref_batch branch calls np.int(...), an alias removed in numpy 1.24 (see
        # test_neurocombat_ref_batch_fails_on_numpy_2): give it back the builtin int it stood for,
        # for this test only, so that its ref_batch output can still be compared at 1e-6.
        monkeypatch.setattr(np, "int", int, raising=False)
    expected, estimates, _ = run_neurocombat(features, site, covariates, **options)

    found = combat(features, site, covariates, **options)
    assert np.abs(found.to_numpy() - expected).max() <= 1e-6

    model = ComBat(**options).fit(features, site, covariates)
    # Same site order (neuroCombat recodes sites as 0, 1, ... in sorted order when given ref_batch).
    assert list(estimates["batches"]) in (list(model.sites_), list(range(len(model.sites_))))
    assert np.abs(model.gamma_star_.to_numpy() - np.asarray(estimates["gamma.star"])).max() <= 1e-6
    assert np.abs(model.delta_star_.to_numpy() - np.asarray(estimates["delta.star"])).max() <= 1e-6
    assert np.abs(model.var_pooled_.to_numpy() - estimates["var.pooled"].ravel()).max() <= 1e-6
    if "ref_batch" in options:
        in_reference = (site == options["ref_batch"]).to_numpy()
        np.testing.assert_array_equal(found[in_reference], features[in_reference])


def test_neurocombat_ref_batch_fails_on_numpy_2():
    """The reference's failure that test_matches_neurocombat works around: np.int no longer exists."""
    if hasattr(np, "int"):
        pytest.skip("this numpy still has the np.int alias")
    features, site, covariates = multisite_data()
    with pytest.raises(AttributeError, match="np.int"):
        run_neurocombat(features, site, covariates, ref_batch="site_b")
    assert combat(features, site, covariates, ref_batch="site_b").notna().all().all()


def test_categorical_encoding_agrees_with_neurocombat():
    """Both drop the first sorted level of every categorical covariate (bool, string, category)."""
    features, site, covariates = multisite_data()
    model = ComBat().fit(features, site, covariates)
    assert list(model.covariate_betas_.index) == ["age", "sex[M]", "diagnosis[CN]", "diagnosis[MCI]", "smoker[True]"]
    assert model.covariate_levels_["diagnosis"] == ("AD", "CN", "MCI")
    _, _, info = run_neurocombat(features, site, covariates)
    n_sites = len(SITE_SIZES)
    # neuroCombat's design: site one-hot, then categorical one-hots (first sorted level dropped), then continuous.
    expected = np.column_stack(
        [
            covariates["sex"] == "M",
            covariates["diagnosis"] == "CN",
            covariates["diagnosis"] == "MCI",
            covariates["smoker"],
            covariates["age"],
        ]
    ).astype(float)
    np.testing.assert_array_equal(info["design"][:, n_sites:], expected)


def test_non_parametric_stays_finite_on_large_sites():
    """neuroCombat multiplies ~700 likelihoods per site and underflows to NaN; ours works in log space."""
    rng = np.random.default_rng(3)
    site = np.repeat(["a", "b", "c"], 700)
    features = pd.DataFrame(rng.normal(size=(2100, 4)) * np.where(site == "b", 2.0, 1.0)[:, None])
    features += 3.0 * (site == "a")[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # its overflow / 0-by-0 warnings
        expected, _, _ = run_neurocombat(features, site, pd.DataFrame(index=features.index), parametric=False)
    assert np.isnan(expected).all()

    found = combat(features, site, parametric=False)
    assert np.isfinite(found.to_numpy()).all()
    site_means = found.groupby(site).mean()
    site_sds = found.groupby(site).std()
    assert (site_means.max() - site_means.min()).max() < 0.3  # was 3 before harmonization
    assert (site_sds.max() / site_sds.min()).max() < 1.2  # was 2


def test_index_and_columns_kept_and_ndarray_accepted():
    features, site, covariates = multisite_data(n_features=5)
    shuffled = features.sample(frac=1.0, random_state=0)
    found = combat(shuffled, site, covariates)  # batch and covariates are aligned on the index
    assert found.index.equals(shuffled.index) and found.columns.equals(shuffled.columns)
    pd.testing.assert_frame_equal(found.loc[features.index], combat(features, site, covariates))
    pd.testing.assert_frame_equal(found, ComBat().fit_transform(shuffled, site, covariates))

    from_array = combat(features.to_numpy(), site.to_numpy(), covariates.reset_index(drop=True))
    assert from_array.index.equals(pd.RangeIndex(len(features)))
    assert from_array.columns.equals(pd.RangeIndex(5))
    np.testing.assert_allclose(from_array.to_numpy(), found.loc[features.index].to_numpy(), rtol=0, atol=1e-9)


def test_inputs_never_modified():
    features, site, covariates = multisite_data(n_features=5)
    copies = features.copy(), site.copy(), covariates.copy()
    for options in ({}, {"ref_batch": "site_a", "parametric": False}):
        model = ComBat(**options).fit(features, site, covariates)
        model.transform(features, site, covariates)
    pd.testing.assert_frame_equal(features, copies[0])
    pd.testing.assert_series_equal(site, copies[1])
    pd.testing.assert_frame_equal(covariates, copies[2])


def fitted_parameters(model):
    return {name: copy.deepcopy(value) for name, value in vars(model).items() if name.endswith("_")}


def assert_same_parameters(first, second):
    assert first.keys() == second.keys()
    for name in first:
        if isinstance(first[name], (pd.DataFrame, pd.Series, pd.Index)):
            assert first[name].equals(second[name]), name
        else:
            assert np.array_equal(np.asarray(first[name], dtype=object), np.asarray(second[name], dtype=object)), name


def train_test_split_data():
    features, site, covariates = multisite_data(n_features=8)
    test = np.random.default_rng(5).random(len(features)) < 0.3
    return features, site, covariates, ~test, test


def test_transform_applies_the_fitted_parameters():
    features, site, covariates, train, test = train_test_split_data()
    model = ComBat().fit(features[train], site[train], covariates[train])
    found = model.transform(features[test], site[test], covariates[test])

    # ComBat by hand from the fitted parameters: standardise, remove the site's shift and scale, restore.
    design = pd.DataFrame(
        {
            "age": covariates["age"],
            "sex[M]": covariates["sex"] == "M",
            "diagnosis[CN]": covariates["diagnosis"] == "CN",
            "diagnosis[MCI]": covariates["diagnosis"] == "MCI",
            "smoker[True]": covariates["smoker"],
        }
    ).astype(float)[test]
    biology = design.to_numpy() @ model.covariate_betas_.loc[design.columns].to_numpy() + model.grand_mean_.to_numpy()
    sd = np.sqrt(model.var_pooled_.to_numpy())
    gamma = model.gamma_star_.loc[site[test]].to_numpy()
    delta = model.delta_star_.loc[site[test]].to_numpy()
    expected = ((features[test].to_numpy() - biology) / sd - gamma) / np.sqrt(delta) * sd + biology
    np.testing.assert_allclose(found.to_numpy(), expected, rtol=0, atol=1e-9)
    assert found.index.equals(features.index[test])
    # ... and the fit differs from one that saw the test subjects (so the check above has teeth).
    assert not ComBat().fit(features, site, covariates).gamma_star_.equals(model.gamma_star_)


def test_test_subjects_never_reach_the_fitted_parameters():
    features, site, covariates, train, test = train_test_split_data()
    model = ComBat().fit(features[train], site[train], covariates[train])
    before = fitted_parameters(model)
    first = model.transform(features[test], site[test], covariates[test])

    # Change some test subjects wildly: only their own rows change, the fitted parameters do not.
    altered = features.copy()
    changed = altered.index[test][:5]
    altered.loc[changed] *= 10
    second = model.transform(altered[test], site[test], covariates[test])
    assert_same_parameters(before, fitted_parameters(model))
    unchanged = first.index.difference(changed)
    pd.testing.assert_frame_equal(first.loc[unchanged], second.loc[unchanged])
    assert not np.allclose(first.loc[changed], second.loc[changed])

    # Refitting on the training rows of the altered table gives the same parameters.
    refit = ComBat().fit(altered[train], site[train], covariates[train])
    assert_same_parameters(before, fitted_parameters(refit))

    # One test subject at a time gives the same answer as all of them together.
    one = altered.index[test][7]
    alone = model.transform(altered.loc[[one]], site.loc[[one]], covariates.loc[[one]])
    pd.testing.assert_frame_equal(alone, second.loc[[one]])


def site_and_age_effects(features, site, age):
    """Per feature: SD across sites of the age-adjusted site intercepts, and the age slope."""
    site_onehot = pd.get_dummies(pd.Series(site)).to_numpy(dtype=float)
    design = np.column_stack([site_onehot, np.asarray(age, dtype=float)])
    coefficients = np.linalg.lstsq(design, features.to_numpy(), rcond=None)[0]
    return coefficients[:-1].std(axis=0), coefficients[-1]


def marginal_age_slope(features, age):
    age = np.asarray(age, dtype=float)
    return np.polyfit(age, features.to_numpy(), 1)[0]


def test_site_effect_shrinks_while_age_effect_survives():
    rng = np.random.default_rng(11)
    sites = np.array(["clinic", "community", "hospital"])
    site = np.repeat(sites, 80)
    # The hospital sees older patients: age and site are correlated, as in the course cohort.
    age = np.concatenate([rng.normal(35, 8, 80), rng.normal(50, 8, 80), rng.normal(65, 8, 80)])
    n_features, true_slope = 20, 0.05
    site_code = np.searchsorted(sites, site)
    shift = rng.normal(0, 1.5, (3, n_features))
    scale = rng.uniform(0.6, 1.8, (3, n_features))
    noise = rng.normal(0, 0.5, (240, n_features)) * scale[site_code]
    features = pd.DataFrame(10 + true_slope * age[:, None] + shift[site_code] + noise)
    covariates = pd.DataFrame({"age": age})

    site_before, slope_before = site_and_age_effects(features, site, age)
    harmonized = combat(features, site, covariates)
    site_after, slope_after = site_and_age_effects(harmonized, site, age)
    assert np.median(site_after / site_before) < 0.05
    np.testing.assert_allclose(slope_after, true_slope, rtol=0.25)
    np.testing.assert_allclose(slope_after.mean(), true_slope, rtol=0.05)
    sds = harmonized.groupby(site).std()
    assert (sds.max() / sds.min()).median() < 1.25  # site scales (up to 3x) equalised too
    np.testing.assert_allclose(marginal_age_slope(harmonized, age).mean(), true_slope, rtol=0.05)

    # Without age as a covariate, ComBat takes the older hospital's higher values for a site effect.
    assert marginal_age_slope(combat(features, site), age).mean() < 0.5 * true_slope


def test_ref_batch_moves_other_sites_onto_the_reference():
    features, site, _ = multisite_data(n_features=10)
    found = combat(features, site, ref_batch="site_c", eb=False)
    # Without empirical Bayes nor covariates, every site gets the reference site's mean exactly, and
    # its residual SD (neuroCombat's pooled variance divides by n: hence ddof=0).
    means, sds = found.groupby(site).mean(), found.groupby(site).std()
    reference = features[site == "site_c"]
    for other in ["site_a", "site_b", "site_d"]:
        np.testing.assert_allclose(means.loc[other], reference.mean(), rtol=1e-12)
        np.testing.assert_allclose(sds.loc[other], reference.std(ddof=0), rtol=1e-12)
    pd.testing.assert_frame_equal(found[site == "site_c"], reference)


# -- errors ------------------------------------------------------------------------------------
def small_data():
    features, site, covariates = multisite_data(n_features=4)
    return features, site.to_numpy(), covariates[["age", "sex"]]


def with_value(frame, row, column, value):
    changed = frame.copy()
    changed[column] = changed[column].astype(object) if isinstance(value, str) else changed[column]
    changed.iloc[row, changed.columns.get_loc(column)] = value
    return changed


def with_site(site, position, label):
    changed = np.array(site, dtype=object)
    changed[position] = label
    return changed


def error_cases():
    features, site, covariates = small_data()
    first_of_b = int(np.nonzero(site == "site_b")[0][0])
    site_of = {name: (site == name) for name in SITE_SIZES}
    scanner = pd.Series(site).map({"site_a": "GE", "site_b": "GE", "site_c": "Siemens", "site_d": "Philips"})
    field = pd.Series(site).map({"site_a": 1.5, "site_b": 3.0, "site_c": 3.0, "site_d": 1.5}).to_numpy()
    constant = features.copy()
    constant.loc[site_of["site_c"], "feature_02"] = 7.0
    return {
        "single site": (features, np.repeat("site_a", len(site)), None, {}, ValueError, "at least 2 sites"),
        "site with one subject": (
            features, with_site(site, first_of_b, "site_e"), None, {}, ValueError, r"site_e.*single subject"),
        "missing feature": (with_value(features, 3, "feature_01", np.nan), site, None, {}, ValueError, "missing"),
        "infinite feature": (with_value(features, 3, "feature_01", np.inf), site, None, {}, ValueError, "infinite"),
        "missing site": (features, with_site(site, 4, None), None, {}, ValueError, "batch has 1 missing"),
        "missing covariate": (features, site, with_value(covariates, 2, "age", np.nan), {}, ValueError, "age"),
        "missing categorical covariate": (
            features, site, with_value(covariates, 2, "sex", None), {}, ValueError, "sex"),
        "categorical confounded with site": (
            features, site, covariates.assign(scanner=scanner.to_numpy()), {}, ValueError,
            r"\['scanner'\] are confounded with site"),
        "continuous confounded with site": (
            features, site, covariates.assign(field_tesla=field), {}, ValueError,
            r"\['field_tesla'\] are confounded with site"),
        "constant covariate": (
            features, site, covariates.assign(protocol=2.0), {}, ValueError, r"\['protocol'\] are confounded"),
        "collinear covariates": (
            features, site, covariates.assign(age_months=covariates["age"] * 12), {}, ValueError,
            r"\['age', 'age_months'\] are linearly dependent"),
        "batch too short": (features, site[:-1], None, {}, ValueError, "batch has"),
        "covariates too short": (features, site, covariates.iloc[:-1], {}, ValueError, "covariates has"),
        "batch index not the features index": (
            features, pd.Series(site), None, {}, ValueError, "batch's index does not match"),
        "unknown ref_batch": (features, site, None, {"ref_batch": "site_z"}, ValueError, "ref_batch 'site_z'"),
        "text feature": (
            with_value(features, 0, "feature_03", "high"), site, None, {}, TypeError, r"numeric.*feature_03"),
        "bool feature": (features.assign(flag=True), site, None, {}, TypeError, r"numeric.*flag"),
        "feature constant within a site": (
            constant, site, None, {}, ValueError, r"feature_02.*constant within site 'site_c'"),
        "EB with one feature": (features[["feature_00"]], site, None, {}, ValueError, "at least 2 features"),
        "covariates not a table": (features, site, covariates["age"], {}, TypeError, "covariates must be"),
        "option not a bool": (features, site, None, {"eb": "yes"}, TypeError, "eb must be True or False"),
    }


ERROR_CASES = error_cases()


@pytest.mark.parametrize("case", ERROR_CASES)
def test_bad_input_raises_a_clear_error(case):
    features, site, covariates, options, error, message = ERROR_CASES[case]
    with pytest.raises(error, match=message):
        combat(features, site, covariates, **options)


def test_bad_input_at_transform_raises_a_clear_error():
    features, site, covariates = small_data()
    with pytest.raises(NotFittedError):
        ComBat().transform(features, site, covariates)
    model = ComBat().fit(features, site, covariates)
    with pytest.raises(ValueError, match=r"sites \['site_x'\] were not seen in fit"):
        model.transform(features, with_site(site, 0, "site_x"), covariates)
    with pytest.raises(ValueError, match=r"covariates\['sex'\] has levels \['X'\] not seen in fit"):
        model.transform(features, site, with_value(covariates, 0, "sex", "X"))
    with pytest.raises(ValueError, match="expected columns"):
        model.transform(features, site, covariates[["age"]])
    with pytest.raises(ValueError, match="columns differ"):
        model.transform(features.rename(columns={"feature_00": "other"}), site, covariates)
    with pytest.raises(ValueError, match="expected 4 features"):
        model.transform(features.iloc[:, :3], site, covariates)
    # A single subject of a single site is fine at transform time; columns may come in any order.
    one = model.transform(features.iloc[[0], ::-1], site[:1], covariates.iloc[[0]])
    pd.testing.assert_frame_equal(one, model.transform(features, site, covariates).iloc[[0], ::-1])


def test_single_feature_without_eb_works():
    features, site, covariates = small_data()
    single = combat(features[["feature_00"]], site, covariates, eb=False)
    np.testing.assert_allclose(single["feature_00"], combat(features, site, covariates, eb=False)["feature_00"])
