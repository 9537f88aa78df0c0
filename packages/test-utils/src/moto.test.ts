import { describe, expect, it } from '@jest/globals';
import { parseRecording } from './moto.js';

/** One request as moto's recorder logs it, signed for `service` (SigV4's signing name). */
const line = (service: string, headers: Record<string, string>, body = '') =>
  JSON.stringify({
    method: 'POST',
    url: 'http://localhost:5000/',
    headers: {
      Authorization: `AWS4-HMAC-SHA256 Credential=slipway/20240102/us-east-1/${service}/aws4_request, SignedHeaders=host, Signature=0`,
      'X-Amz-Date': '20240102T030405Z',
      ...headers,
    },
    body,
  });

describe('parseRecording', () => {
  it("names each request's action with its IAM prefix, not its SigV4 signing name", () => {
    const calls = parseRecording(
      [
        // CloudWatch signs as `monitoring`; IAM knows it as `cloudwatch`.
        line('monitoring', { 'X-Amz-Target': 'GraniteServiceVersion20100801.GetMetricData' }),
        line('monitoring', {}, 'Action=PutMetricData&Version=2010-08-01'),
        line('elasticloadbalancing', {}, 'Action=DescribeTargetGroups&Version=2015-12-01'),
        line('autoscaling', {}, 'Action=DescribeAutoScalingGroups&Version=2011-01-01'),
        line('ec2', {}, 'Action=DescribeImages&Version=2016-11-15'),
        line('sts', {}, 'Action=GetCallerIdentity&Version=2011-06-15'),
      ].join('\n'),
    );
    expect(calls.map((c) => c.action)).toEqual([
      'cloudwatch:GetMetricData',
      'cloudwatch:PutMetricData',
      'elasticloadbalancing:DescribeTargetGroups',
      'autoscaling:DescribeAutoScalingGroups',
      'ec2:DescribeImages',
      'sts:GetCallerIdentity',
    ]);
    expect(calls[0]).toMatchObject({ accessKeyId: 'slipway', region: 'us-east-1', at: Date.UTC(2024, 0, 2, 3, 4, 5) });
  });
});
