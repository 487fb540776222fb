"""docs/configuration.md says what the settings models say."""

from tools.configuration_reference import TARGET, render


def test_the_configuration_reference_is_current() -> None:
    assert TARGET.read_text(encoding="utf-8") == render(), "run `make docs`"
