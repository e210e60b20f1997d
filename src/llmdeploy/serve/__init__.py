"""Talking to what was deployed: one request (`invoke`), a load test with SLO judgement
(`bench`), and security probes (`probe`), through SageMaker Runtime.

No CDK here: these modules load specs, resolve names (`llmdeploy.plan.names`) and call
boto3's sagemaker-runtime client.
"""
