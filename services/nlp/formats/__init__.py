"""One module per upload format, used by :mod:`services.nlp.extract`.

Each module turns bytes (or already decoded text) into *raw* text; the shared
normalisation in :mod:`services.nlp.formats.common` runs afterwards, so every format
ends with the same newline, control-character and whitespace rules.
"""
