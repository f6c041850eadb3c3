"""Looking inside a CNN: Zeiler-Fergus deconvnet projections, top-k activations, occlusion
sensitivity, the Explanatory Graph (Zhang et al., AAAI 2018) and its location-instability metric.

One file per piece (docs/features.md explains the algorithms and the equations implemented):

* :mod:`~attrbench.features.geometry`: where a layer's unit looks in the input (receptive field).
* :mod:`~attrbench.features.deconvnet`: projection of one activation back to pixels.
* :mod:`~attrbench.features.topk`: the top-k activations of a channel over a dataset.
* :mod:`~attrbench.features.occlusion_sensitivity`: the grey-square occlusion maps.
* :mod:`~attrbench.features.explanatory_graph` (the graph, inference, file format) and
  :mod:`~attrbench.features.graph_mining` (the EM mining).
* :mod:`~attrbench.features.location_instability`: the metric, with raw-peak and random baselines.
* :mod:`~attrbench.features.figures`: grids and heat maps.
"""
