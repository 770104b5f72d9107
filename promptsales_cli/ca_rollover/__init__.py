"""``promptsales certs rotate-ca``: a CA rollover on a cluster's ``promptsales-ca`` Secret or
on the local platform's ``pki`` directory, one safe step at a time (see ``certs.rollover``).
"""
