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


def settings(names=config.SETTINGS):
    """The flags ``names`` as TrainConfig keyword arguments; unset ones get its defaults."""
    return {name: FLAGS[name].value for name in names if FLAGS[name].value is not None}
