"""The maths of every stage, pure: pandas, numpy, statsmodels, cvxpy, torch.

Nothing here imports Prefect or touches files: a stage function takes DataFrames and
typed keyword arguments and returns a DataFrame.
"""
