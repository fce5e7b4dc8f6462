"""The training flags of ``sg-keras train`` and the pipeline, made from TrainConfig's settings.

Each setting of sg_keras.config.TrainConfig is an absl flag of the same name, type,
default and help text; ``settings()`` turns their values back into TrainConfig
keyword arguments.
"""

import dataclasses

from absl import flags

from sg_keras import config

FLAGS = flags.FLAGS
_DEFINE = {int: flags.DEFINE_integer, float: flags.DEFINE_float, bool: flags.DEFINE_boolean,
           str: flags.DEFINE_string}

for _field in dataclasses.fields(config.TrainConfig):
    if _field.name in config.SETTINGS:
        _DEFINE[_field.type](_field.name, _field.metadata.get("flag_default", _field.default),
                             _field.metadata["help"])


def settings(names=config.SETTINGS, defaults=None):
    """The flags ``names`` as TrainConfig keyword arguments; those not given on the command
    line take their value in ``defaults`` (e.g. the settings of the run a run continues),
    or else TrainConfig's defaults."""
    defaults = defaults or {}
    values = {name: FLAGS[name].value if FLAGS[name].present or name not in defaults
              else defaults[name] for name in names}
    return {name: value for name, value in values.items() if value is not None}
