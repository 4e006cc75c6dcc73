import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection

from lumisync.core import crypto
from lumisync.core.fields import Secret
from lumisync.messaging.models import ProviderAccount


def stored_token(account: ProviderAccount) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT auth_token FROM messaging_provideraccount WHERE id = %s", [account.pk])
        return cursor.fetchone()[0]


@pytest.fixture
def account(organization):
    return ProviderAccount.objects.create(
        organization=organization,
        account_sid="AC123",
        auth_token="tok-very-secret",
        from_number="+12025550100",
    )


def test_secret_is_encrypted_at_rest_and_read_back(account):
    token = stored_token(account)
    assert "tok-very-secret" not in token
    assert token.startswith(crypto.TOKEN_PREFIX)
    assert ProviderAccount.objects.get(pk=account.pk).auth_token == "tok-very-secret"


def test_secret_repr_hides_the_value(account):
    value = ProviderAccount.objects.get(pk=account.pk).auth_token
    assert isinstance(value, Secret)
    assert "tok-very-secret" not in repr(value)
    assert "tok-very-secret" not in repr({"token": value})


def test_rotation_reencrypts_with_the_new_key_and_old_key_can_then_go(account, settings):
    old_key = settings.LUMISYNC_ENCRYPTION_KEYS
    new_key = Fernet.generate_key().decode()
    settings.LUMISYNC_ENCRYPTION_KEYS = f"{new_key},{old_key}"
    crypto._keyring.cache_clear()
    call_command("rotate-keys")

    settings.LUMISYNC_ENCRYPTION_KEYS = new_key
    crypto._keyring.cache_clear()
    assert ProviderAccount.objects.get(pk=account.pk).auth_token == "tok-very-secret"


def test_removing_a_key_before_rotation_fails_with_a_clear_message(account, settings):
    settings.LUMISYNC_ENCRYPTION_KEYS = Fernet.generate_key().decode()
    crypto._keyring.cache_clear()
    with pytest.raises(ImproperlyConfigured, match="rotate-keys"):
        ProviderAccount.objects.get(pk=account.pk)


def test_new_key_goes_first_in_the_key_file(account, settings, tmp_path):
    key_file = tmp_path / "keys"
    key_file.write_text(settings.LUMISYNC_ENCRYPTION_KEYS + "\n")
    settings.LUMISYNC_ENCRYPTION_KEYS = ""
    settings.LUMISYNC_KEY_FILE = key_file
    crypto._keyring.cache_clear()
    call_command("rotate-keys", new_key=True)

    keys = crypto.configured_keys()
    assert len(keys) == 2
    new_only = Fernet(keys[0].encode())
    assert new_only.decrypt(stored_token(account)[len(crypto.TOKEN_PREFIX) :].encode()) == b"tok-very-secret"


@pytest.fixture
def key_file_only(db, settings, tmp_path):
    """Keys from a key file (not yet written), under the usual umask, which would let anyone read it."""
    key_file = tmp_path / "keys"
    settings.LUMISYNC_ENCRYPTION_KEYS = ""
    settings.LUMISYNC_KEY_FILE = key_file
    crypto._keyring.cache_clear()
    umask = os.umask(0o022)
    yield key_file
    os.umask(umask)


def test_new_key_file_is_readable_by_its_owner_only(key_file_only):
    call_command("rotate-keys", new_key=True)
    assert key_file_only.stat().st_mode & 0o777 == 0o600
    assert len(crypto.configured_keys()) == 1


def test_rotation_keeps_the_mode_of_an_existing_key_file(key_file_only):
    key_file_only.write_text(crypto.generate_key() + "\n")
    key_file_only.chmod(0o640)
    call_command("rotate-keys", new_key=True)
    assert key_file_only.stat().st_mode & 0o777 == 0o640


def test_a_server_reading_the_key_file_during_rotation_finds_it_whole(key_file_only, monkeypatch):
    old_key = crypto.generate_key()
    key_file_only.write_text(old_key + "\n")
    seen = []
    replace = os.replace

    def replace_and_look(source, target):
        # The moment before the new file takes the old one's place: what would a server read now?
        seen.append((crypto.configured_keys(), Path(source).read_text().split()))
        replace(source, target)

    monkeypatch.setattr(os, "replace", replace_and_look)
    call_command("rotate-keys", new_key=True)

    [(keys_read_meanwhile, new_file)] = seen
    assert keys_read_meanwhile == [old_key]
    assert new_file == crypto.configured_keys() and new_file[1:] == [old_key]
    assert [p.name for p in key_file_only.parent.iterdir()] == [key_file_only.name], "no temporary file left"


def test_missing_keys_name_the_fix(settings, tmp_path):
    settings.LUMISYNC_ENCRYPTION_KEYS = ""
    settings.LUMISYNC_KEY_FILE = tmp_path / "absent"
    crypto._keyring.cache_clear()
    with pytest.raises(ImproperlyConfigured, match="LUMISYNC_ENCRYPTION_KEYS"):
        crypto.encrypt("x")
