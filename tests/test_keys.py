import hmac
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from linkage_hub.ciphers import Algorithm, CipherError, hmac_hex, hmac_pads, sm_available
from linkage_hub.keys import (
    Keyring,
    KeySetError,
    add_key_version,
    load_key_set,
    load_or_create_secret,
)
from linkage_hub.settings import Settings

NUMBER = "11010519491231002X"


class TestGeneratedSecrets:
    def test_created_once_owner_only_and_reused(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path)
        first = load_or_create_secret(settings, "probe", None)
        second = load_or_create_secret(settings, "probe", None)
        assert first == second and len(first) >= 32
        assert (tmp_path / "linkage-hub.probe.key").stat().st_mode & 0o077 == 0

    def test_processes_starting_together_share_one_key(self, tmp_path: Path) -> None:
        """Two hub processes' first requests create the key files at the same moment: each
        reads the other's whole file or makes its own, never an empty one (seen in CI)."""
        for round_ in range(20):
            settings = Settings(data_dir=tmp_path / str(round_))
            with ThreadPoolExecutor(8) as pool:
                secret = pool.map(load_or_create_secret, [settings] * 8, ["p"] * 8, [None] * 8)
                key_set = pool.map(load_key_set, [settings] * 8)
                secrets_, key_sets = set(secret), {k.dumps() for k in key_set}
            assert len(secrets_) == 1 and len(key_sets) == 1
            assert [p.name for p in settings.secrets_dir.glob("*.tmp")] == []

    def test_configured_secret_wins(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path)
        assert load_or_create_secret(settings, "probe", "given") == b"given"
        assert not (tmp_path / "linkage-hub.probe.key").exists()


class TestKeyring:
    def test_keys_are_keyed_stable_and_free_of_the_number(self, tmp_path: Path) -> None:
        ring = Keyring(Settings(data_dir=tmp_path / "a", record_key_secret="one" * 11))
        other = Keyring(Settings(data_dir=tmp_path / "b", record_key_secret="two" * 11))
        assert ring.person_key(NUMBER) == ring.person_key(NUMBER)
        assert ring.person_key(NUMBER) != other.person_key(NUMBER)
        assert len(ring.person_key(NUMBER)) == 32 and NUMBER not in ring.person_key(NUMBER)
        assert ring.record_key("roster", NUMBER, "U1") != ring.record_key("cadres", NUMBER, "U1")

    def test_primed_pads_give_hmac_values(self) -> None:
        for digest in ("sha256", "sm3") if sm_available() else ("sha256",):
            for key in (b"k", b"k" * 100):
                expected = hmac.new(key, b"message", digest).hexdigest()[:32]
                assert hmac_hex(hmac_pads(key, digest), b"message") == expected


class TestIdKeys:
    def test_generated_beside_the_database_owner_only(self, tmp_path: Path) -> None:
        Keyring(Settings(data_dir=tmp_path))
        path = tmp_path / "linkage-hub.id-keys.json"
        assert path.stat().st_mode & 0o077 == 0
        doc = json.loads(path.read_text())
        assert doc["current"] == 1 and doc["versions"][0]["algorithm"] == "aes-256-gcm"
        assert Keyring(Settings(data_dir=tmp_path)).person_key(NUMBER) == Keyring(
            Settings(data_dir=tmp_path)
        ).person_key(NUMBER)

    def test_sealed_values_are_random_and_open_to_the_number(self, tmp_path: Path) -> None:
        ring = Keyring(Settings(data_dir=tmp_path))
        one, two = ring.seal_id(NUMBER), ring.seal_id(NUMBER)
        assert one != two and one.startswith("v1:") and NUMBER not in one
        assert ring.reveal_id(one) == ring.reveal_id(two) == NUMBER
        assert ring.reveal_id(NUMBER) == NUMBER  # stored before encryption: as it is

    def test_an_altered_value_or_another_key_does_not_open(self, tmp_path: Path) -> None:
        ring = Keyring(Settings(data_dir=tmp_path / "a"))
        sealed = ring.seal_id(NUMBER)
        flipped = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
        with pytest.raises(CipherError):
            ring.reveal_id(flipped)
        with pytest.raises(CipherError):
            Keyring(Settings(data_dir=tmp_path / "b")).reveal_id(sealed)

    def test_keys_from_the_environment_are_never_written(self, tmp_path: Path) -> None:
        Keyring(Settings(data_dir=tmp_path / "a"))
        text = (tmp_path / "a" / "linkage-hub.id-keys.json").read_text()
        given = Settings(data_dir=tmp_path / "b", id_keys=text)
        assert Keyring(given).reveal_id(Keyring(Settings(data_dir=tmp_path / "a")).seal_id("1"))
        assert not (tmp_path / "b" / "linkage-hub.id-keys.json").exists()
        with pytest.raises(KeySetError):
            add_key_version(given)
        with pytest.raises(KeySetError):
            Keyring(Settings(data_dir=tmp_path / "c", id_keys='{"current": 2, "versions": []}'))

    def test_a_new_version_seals_old_ones_still_open(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path)
        ring = Keyring(settings)
        stale = Keyring(settings)
        old_value, old_key = ring.seal_id(NUMBER), ring.person_key(NUMBER)
        add_key_version(settings)
        ring.reload()
        assert ring.current_version == 2 and ring.seal_id(NUMBER).startswith("v2:")
        assert ring.reveal_id(old_value) == NUMBER
        assert ring.person_keys(NUMBER)[1] == old_key != ring.person_key(NUMBER)
        # a keyring made before the new version opens its values on first sight
        assert stale.current_version == 1
        assert stale.reveal_id(ring.seal_id(NUMBER)) == NUMBER

    @pytest.mark.skipif(not sm_available(), reason="this OpenSSL build has no SM3/SM4")
    def test_national_algorithms(self, tmp_path: Path) -> None:
        ring = Keyring(Settings(data_dir=tmp_path, id_cipher=Algorithm.sm4_gcm))
        assert ring.current.algorithm is Algorithm.sm4_gcm
        sealed = ring.seal_id(NUMBER)
        assert ring.reveal_id(sealed) == NUMBER and NUMBER not in sealed
        mac = ring.current._mac_key
        assert ring.person_key(NUMBER) == hmac.new(mac, NUMBER.encode(), "sm3").hexdigest()[:32]
