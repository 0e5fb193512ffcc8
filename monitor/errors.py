"""The project's own exceptions; errors of foreign libraries are wrapped in these."""


class DriftdError(Exception):
    """Base class of every error driftd raises on purpose."""


class ConfigError(DriftdError):
    """The configuration file is missing, unreadable or invalid.

    ``problems`` lists one human-readable line per problem, each naming its key path.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [message]

    def __str__(self) -> str:
        return "\n".join(self.problems)


class ProfileError(DriftdError):
    """A reference profile is missing, corrupt, or does not match the configuration."""


class KafkaIOError(DriftdError):
    """Talking to Kafka failed (connect, produce, commit, metadata)."""


class DeliveryError(KafkaIOError):
    """An output record was not acknowledged by the broker."""
