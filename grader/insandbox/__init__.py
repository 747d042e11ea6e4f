"""Code that runs *inside* the sandbox on student files (HDF5 models, images).

Every module here is standalone: it imports nothing of ``grader`` (whose sources
are not visible in the sandbox), only the standard library, numpy, h5py,
Pillow and, in the model server, Keras. The grader imports the same modules for
the pure functions they share (image limits, layer descriptions).
"""
