from pathlib import Path

from linkage_hub.keys import Keyring, load_or_create_secret
from linkage_hub.settings import Settings


class TestGeneratedSecrets:
    def test_created_once_owner_only_and_reused(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path)
        first = load_or_create_secret(settings, "probe", None)
        second = load_or_create_secret(settings, "probe", None)
        assert first == second and len(first) >= 32
        assert (tmp_path / "linkage-hub.probe.key").stat().st_mode & 0o077 == 0

    def test_configured_secret_wins(self, tmp_path: Path) -> None:
        settings = Settings(data_dir=tmp_path)
        assert load_or_create_secret(settings, "probe", "given") == b"given"
        assert not (tmp_path / "linkage-hub.probe.key").exists()


class TestKeyring:
    def test_keys_are_keyed_stable_and_free_of_the_number(self, tmp_path: Path) -> None:
        ring = Keyring(Settings(data_dir=tmp_path, record_key_secret="one"))
        other = Keyring(Settings(data_dir=tmp_path, record_key_secret="two"))
        number = "11010519491231002X"
        assert ring.person_key(number) == ring.person_key(number)
        assert ring.person_key(number) != other.person_key(number)
        assert len(ring.person_key(number)) == 32 and number not in ring.person_key(number)
        assert ring.record_key("roster", number, "U1") != ring.record_key("cadres", number, "U1")
