"""Birth places: INSEE COG communes of every vintage, retired codes, countries, and the cache."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from carnet.identity import places as places_module
from carnet.identity.places import COG_PACKAGES, PlaceRegistry, find_cog_dir, get_places

# -- the real COG data (npm packages installed by `make setup`) ------------------------------------


@pytest.fixture(scope="module")
def places() -> PlaceRegistry:
    return get_places()


@pytest.mark.parametrize(
    ("code", "name", "department", "current"),
    [
        ("75056", "Paris", "75", "75056"),
        ("75101", "Paris 1er Arrondissement", "75", "75101"),  # arrondissements are birth places
        ("69381", "Lyon 1er Arrondissement", "69", "69381"),
        ("13201", "Marseille 1er Arrondissement", "13", "13201"),
        ("2A004", "Ajaccio", "2A", "2A004"),
        ("2B033", "Bastia", "2B", "2B033"),
        ("97105", "Basse-Terre", "971", "97105"),
        ("97501", "Miquelon-Langlade", "975", "97501"),
        ("98818", "Nouméa", "988", "98818"),
        # retired codes stay valid and lead to the current commune
        ("20004", "Ajaccio", "20", "2A004"),  # anciensCodes: Corsica before 1976
        ("69232", "Saint-Rambert-l'Île-Barbe", "69", "69123"),  # anciensCodes of Lyon
        ("02311", "Filain", "02", "02589"),  # only in the 2023 vintage
        ("01172", "Germagnat", "01", "01095"),  # only in the 2019 vintage
        ("75012", "Boulogne-Billancourt", "75", "92012"),  # only in the history: Seine before 1968
        ("60696", "Voisinlieu", "60", "60057"),  # merged into Beauvais in 1943
        ("02077", "Berzy-le-Sec", "02", "02564"),  # a delegated commune gives its chef-lieu
    ],
)
def test_known_communes(
    places: PlaceRegistry, code: str, name: str, department: str, current: str
) -> None:
    assert places.is_known(code)
    assert places.name(code) == name
    assert places.department(code) == department
    assert places.current_code(code) == current
    assert not places.is_abroad(code)


def test_codes_are_case_and_space_insensitive(places: PlaceRegistry) -> None:
    assert places.is_known(" 2a004 ")
    assert places.name("2b033") == "Bastia"
    assert places.current_code("2a004") == "2A004"


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("99352", "Algérie"),
        ("99350", "Maroc"),
        ("99351", "Tunisie"),
        ("99109", "Allemagne"),
        ("99127", "Italie"),
        ("99131", "Belgique"),
        ("99132", "Royaume-Uni"),
        ("99134", "Espagne"),
        ("99139", "Portugal"),
        ("99140", "Suisse"),
        ("99122", "Pologne"),
        ("99114", "Roumanie"),
        ("99208", "Turquie"),
        ("99216", "Chine"),
        ("99223", "Inde"),
        ("99243", "Vietnam"),
        ("99322", "Cameroun"),
        ("99326", "Côte d'Ivoire"),
        ("99335", "Mali"),
        ("99341", "Sénégal"),
        ("99401", "Canada"),
        ("99404", "États-Unis"),
        ("99115", "Tchécoslovaquie"),  # historical codes stay valid birth places
    ],
)
def test_countries_are_birth_places_abroad(places: PlaceRegistry, code: str, name: str) -> None:
    assert places.is_known(code)
    assert places.is_abroad(code)
    assert places.name(code) == name
    assert places.department(code) == "99"
    assert places.current_code(code) == code


@pytest.mark.parametrize(
    "code", ["99100", "99999", "99000", "00000", "75000", "2C004", "7505", "", "ABCDE"]
)
def test_unknown_places(places: PlaceRegistry, code: str) -> None:
    assert not places.is_known(code)
    assert places.name(code) is None
    assert places.department(code) is None
    assert places.current_code(code) is None
    assert not places.is_abroad(code)


def test_france_is_not_a_country_of_birth_abroad(places: PlaceRegistry) -> None:
    assert "99100" not in dict(places.countries())
    assert not places.is_abroad("99100")


def test_countries_list(places: PlaceRegistry) -> None:
    countries = places.countries()
    assert len(countries) >= 100
    assert countries == sorted(countries)
    assert len({code for code, _ in countries}) == len(countries)
    assert all(len(code) == 5 and code.startswith("99") and code.isdigit() for code, _ in countries)
    assert all(name and name == name.strip() for _, name in countries)


def test_weighted_communes(places: PlaceRegistry) -> None:
    codes, weights = places.weighted_communes()
    assert len(codes) == len(weights) > 30_000
    assert len(set(codes)) == len(codes)
    assert all(weight > 0 for weight in weights)
    assert 60_000_000 < sum(weights) < 75_000_000  # the population of France
    # births in Paris, Lyon and Marseille are registered by arrondissement
    for city in ("75056", "69123", "13055"):
        assert city not in codes
    for arrondissement in ("75101", "75120", "69381", "13201"):
        assert arrondissement in codes
    assert all(places.current_code(code) == code for code in codes[::97])
    # a copy: callers may shuffle it
    codes.clear()
    assert places.weighted_communes()[0]


def test_get_places_is_cached() -> None:
    assert get_places() is get_places()


def test_find_cog_dir_walks_up_from_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CARNET_COG_DIR", raising=False)
    found = find_cog_dir()
    assert found.name == "node_modules"
    assert (found / COG_PACKAGES[0] / "data" / "communes.json").is_file()


# -- building and caching, on a small hand-made COG ------------------------------------------------


def _write_package(root: Path, package: str, version: str, communes: list[dict[str, Any]]) -> Path:
    directory = root / package
    (directory / "data").mkdir(parents=True)
    (directory / "package.json").write_text(json.dumps({"version": version}), encoding="utf-8")
    (directory / "data" / "communes.json").write_text(json.dumps(communes), encoding="utf-8")
    return directory


@pytest.fixture
def fake_cog(tmp_path: Path) -> Path:
    root = tmp_path / "node_modules"
    _write_package(
        root,
        COG_PACKAGES[0],
        "9.0.0",
        [
            {"code": "01001", "nom": "Alpha", "type": "commune-actuelle", "population": 100,
             "anciensCodes": ["01002"]},
            # a commune nouvelle keeping the code of a delegated commune: the current one wins
            {"code": "01001", "nom": "Alpha-Village", "type": "commune-deleguee",
             "chefLieu": "01001"},
            {"code": "01003", "nom": "Beta", "type": "commune-deleguee", "chefLieu": "01001"},
            {"code": "01004", "nom": "Empty", "type": "commune-actuelle", "population": 0},
            {"code": "2A004", "nom": "Ajaccio", "type": "commune-actuelle", "population": 70},
            {"code": "75056", "nom": "Paris", "type": "commune-actuelle", "population": 2000},
            {"code": "75101", "nom": "Paris 1er", "type": "arrondissement-municipal",
             "commune": "75056", "population": 15},
        ],
    )  # fmt: skip
    _write_package(
        root,
        COG_PACKAGES[1],
        "8.0.0",
        [
            {"code": "01001", "nom": "Alpha (old name)", "type": "commune-actuelle"},
            {"code": "01006", "nom": "Delta", "type": "commune-associee", "chefLieu": "01001"},
        ],
    )
    oldest = _write_package(
        root,
        COG_PACKAGES[2],
        "7.0.0",
        [{"code": "01002", "nom": "Old Two", "type": "commune-actuelle"}],
    )
    history = [
        {"id": "COM-01001@1943-01-01", "code": "01001", "nom": "Alpha", "type": "COM"},
        {"id": "COM-01005@1943-01-01", "code": "01005", "nom": "Gamma", "type": "COM",
         "dateFin": "2000-01-01", "successeur": "COMA-01005@2000-01-01"},
        {"id": "COMA-01005@2000-01-01", "code": "01005", "nom": "Gamma", "type": "COMA",
         "dateDebut": "2000-01-01", "pole": "COM-01001@1943-01-01"},
        {"id": "COM-01009@1943-01-01", "code": "01009", "nom": "Gone", "type": "COM",
         "dateFin": "1950-01-01"},
        {"id": "COM-20004@1943-01-01", "code": "20004", "nom": "Ajaccio", "type": "COM",
         "dateFin": "1976-01-01", "successeur": "COM-2A004@1976-01-01"},
        {"id": "COM-2A004@1976-01-01", "code": "2A004", "nom": "Ajaccio", "type": "COM",
         "dateDebut": "1976-01-01"},
    ]  # fmt: skip
    (oldest / "data" / "historique-communes.json").write_text(json.dumps(history), encoding="utf-8")
    return root


def test_build_resolves_every_kind_of_old_code(fake_cog: Path, tmp_path: Path) -> None:
    registry = PlaceRegistry.load(cog_dir=fake_cog, data_dir=tmp_path / "data")
    expected = {
        # code: (name, current)
        "01001": ("Alpha", "01001"),  # the newest name, the current commune over the delegated one
        "01002": ("Old Two", "01001"),  # in anciensCodes
        "01003": ("Beta", "01001"),  # delegated: its chef-lieu
        "01004": ("Empty", "01004"),
        "01005": ("Gamma", "01001"),  # history: associated to 01001 in 2000
        "01006": ("Delta", "01001"),  # only in an older vintage, associated
        "01009": ("Gone", None),  # dissolved: still a valid birth place, no current commune
        "20004": ("Ajaccio", "2A004"),
        "75101": ("Paris 1er", "75101"),
    }
    for code, (name, current) in expected.items():
        assert registry.is_known(code), code
        assert (registry.name(code), registry.current_code(code)) == (name, current), code
    assert not registry.is_known("01007")
    assert registry.weighted_communes() == (["01001", "2A004", "75101"], [100, 70, 15])


def test_cache_is_written_keyed_by_versions_and_reused(
    fake_cog: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    first = PlaceRegistry.load(cog_dir=fake_cog, data_dir=data_dir)
    cache = data_dir / "cache" / "cog-places-v1-9.0.0_8.0.0_7.0.0.pickle"
    assert cache.is_file()

    def no_build(cog_dir: Path) -> dict[str, Any]:
        raise AssertionError("the JSON should not be parsed again")

    monkeypatch.setattr(places_module, "_build", no_build)
    second = PlaceRegistry.load(cog_dir=fake_cog, data_dir=data_dir)
    assert second.current_code("01005") == first.current_code("01005") == "01001"
    assert second.weighted_communes() == first.weighted_communes()


def test_a_new_package_version_rebuilds_the_cache(fake_cog: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    PlaceRegistry.load(cog_dir=fake_cog, data_dir=data_dir)
    manifest = fake_cog / COG_PACKAGES[0] / "package.json"
    manifest.write_text(json.dumps({"version": "9.1.0"}), encoding="utf-8")
    PlaceRegistry.load(cog_dir=fake_cog, data_dir=data_dir)
    assert sorted(p.name for p in (data_dir / "cache").iterdir()) == [
        "cog-places-v1-9.0.0_8.0.0_7.0.0.pickle",
        "cog-places-v1-9.1.0_8.0.0_7.0.0.pickle",
    ]


def test_a_corrupt_cache_is_rebuilt(fake_cog: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    cache = data_dir / "cache" / "cog-places-v1-9.0.0_8.0.0_7.0.0.pickle"
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"not a pickle")
    registry = PlaceRegistry.load(cog_dir=fake_cog, data_dir=data_dir)
    assert registry.current_code("20004") == "2A004"
    assert cache.read_bytes() != b"not a pickle"


def test_data_dir_comes_from_the_environment(
    fake_cog: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARNET_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("CARNET_COG_DIR", str(fake_cog))
    PlaceRegistry.load()
    assert list((tmp_path / "elsewhere" / "cache").glob("cog-places-*.pickle"))


def test_missing_npm_data_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARNET_COG_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(
        RuntimeError, match=r"INSEE COG data not found .*run `make setup` \(or `npm ci`\)"
    ):
        PlaceRegistry.load(data_dir=tmp_path / "data")


def test_a_missing_vintage_is_reported(fake_cog: Path, tmp_path: Path) -> None:
    (fake_cog / COG_PACKAGES[2] / "data" / "communes.json").unlink()
    with pytest.raises(RuntimeError, match=r"missing cog-2019.*make setup"):
        PlaceRegistry.load(cog_dir=fake_cog, data_dir=tmp_path / "data")


def test_real_data_loads_fast_from_the_cache(tmp_path: Path) -> None:
    PlaceRegistry.load(data_dir=tmp_path)  # parses the JSON and writes the cache
    started = time.perf_counter()
    registry = PlaceRegistry.load(data_dir=tmp_path)
    elapsed = time.perf_counter() - started
    assert registry.is_known("75056")
    assert elapsed < 0.5, f"cached load took {elapsed:.3f} s"  # about 20 ms on a laptop
