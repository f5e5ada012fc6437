"""The networks: teacher (seed 001 Table 1), student (Table 2), LoRA adapters and their merge,
KernelWarehouse and MKW-Net (seed 000), and the image classifiers by name (image_nets).

Nothing is imported here, so the image networks' names (image_nets) can be read without torch."""
