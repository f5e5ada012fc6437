"""`faultedge monitor`: sensor streams -> windows on a hop -> a back end's class probabilities -> alarms.

sources.py (where samples come from), backends.py (what classifies a window), runtime.py (the
loop that joins them with faultedge.edge.streaming's decisions), outputs.py (where events go).
"""
