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


def test_missing_keys_name_the_fix(settings, tmp_path):
    settings.LUMISYNC_ENCRYPTION_KEYS = ""
    settings.LUMISYNC_KEY_FILE = tmp_path / "absent"
    crypto._keyring.cache_clear()
    with pytest.raises(ImproperlyConfigured, match="LUMISYNC_ENCRYPTION_KEYS"):
        crypto.encrypt("x")
