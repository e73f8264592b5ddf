"""threedb: debug computer-vision models with simulated data rendered by Blender."""

__version__ = "0.1.0"
