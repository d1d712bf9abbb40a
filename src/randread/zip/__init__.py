"""The zip reader: records (APPNOTE), extra fields, directory, methods, reader."""
