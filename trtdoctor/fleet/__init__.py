"""``trtdoctor fleet``: the check on every node of a cluster, and where the nodes differ.

- ``facts``: the few facts of one report that tell nodes apart (GPU, driver, CUDA, ...)
- ``summary``: reports → majority configuration, odd nodes, text and ``trtdoctor.fleet/1``
- ``slurm``: one ``srun`` that writes a report per node
- ``k8s``: a Job or DaemonSet manifest whose pod logs are the reports
"""
