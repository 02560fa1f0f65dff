from tests.agent.mta import postfix, smtp_sink  # noqa: F401 (fixtures)
