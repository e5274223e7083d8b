"""The physiology path: streaming R-peaks, HRV, skin conductance, the wearer's baseline,
the stress model (boosted trees walked in numpy) and the physiology analyzer."""
