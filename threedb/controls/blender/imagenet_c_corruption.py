"""The ImageNet-C control under the module name that 3DB's paper configs use."""

from threedb.controls.blender.imagenet_c import ImagenetCControl

Control = BlenderControl = ImagenetCControl
