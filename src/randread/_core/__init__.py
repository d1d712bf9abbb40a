"""What the zip and bundle readers share (layer 2, below both formats).

``source`` owns or borrows a reader's ReadAt; ``stream`` is the CRC-checked
entry stream behind ``open()``; ``batch`` the batch engine of ``read_many``
(loop or threads, errors in request order); ``errors`` how an entry's
errors are worded.
"""
