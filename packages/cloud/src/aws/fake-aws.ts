/**
 * A small stateful AWS behind aws-sdk-client-mock, so that the provider contract runs against
 * the aws provider as it does against local: launch templates, auto scaling groups that launch
 * and terminate instances, target groups whose targets go initial → healthy, and draining on
 * deregistration. Time moves one step each time `tick()` is called (the contract's
 * `eventually`). Only what the provider sends is modelled, and every command is still recorded
 * by the mocks for assertions.
 */
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  DeleteAutoScalingGroupCommand,
  DescribeAutoScalingGroupsCommand,
  ResumeProcessesCommand,
  SuspendProcessesCommand,
  UpdateAutoScalingGroupCommand,
} from '@aws-sdk/client-auto-scaling';
import {
  CreateLaunchTemplateCommand,
  DeleteLaunchTemplateCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  DeregisterTargetsCommand,
  DescribeListenersCommand,
  DescribeLoadBalancersCommand,
  DescribeTargetGroupAttributesCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
  ModifyListenerCommand,
  ModifyTargetGroupAttributesCommand,
  ModifyTargetGroupCommand,
  SetSecurityGroupsCommand,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { mockClient } from 'aws-sdk-client-mock';

type Fault = Error & { $metadata: object };
const fault = (name: string, message = name): Fault => Object.assign(new Error(message), { name, $metadata: {} });

interface FakeInstance {
  id: string;
  state: 'Pending' | 'InService' | 'Terminating';
  ip: string;
}
interface FakeGroup {
  name: string;
  template: string;
  min: number;
  max: number;
  desired: number;
  targetGroupArns: string[];
  suspended: Set<string>;
  instances: FakeInstance[];
  tags: Array<{ Key?: string; Value?: string }>;
  created: Date;
}
interface FakeTargetGroup {
  arn: string;
  name: string;
  port: number;
  healthCheck: { path: string; interval: number; timeout: number; healthy: number; unhealthy: number };
  delay: string;
  targets: Map<string, 'initial' | 'healthy' | 'draining'>;
}

export function createFakeAws() {
  const ec2 = mockClient(EC2Client);
  const asg = mockClient(AutoScalingClient);
  const elb = mockClient(ElasticLoadBalancingV2Client);
  const templates = new Map<string, { id: string; imageId: string; instanceType: string; created: Date }>();
  const groups = new Map<string, FakeGroup>();
  const targetGroups = new Map<string, FakeTargetGroup>();
  const loadBalancers = new Map<
    string,
    {
      arn: string;
      name: string;
      dns: string;
      listeners: Map<number, string>;
      created: Date;
      securityGroups: string[];
    }
  >();
  let next = 1;

  /** One step of time: groups converge on their desired capacity, targets on their health. */
  function tick(): void {
    for (const group of groups.values()) {
      for (const instance of group.instances) if (instance.state === 'Pending') instance.state = 'InService';
      if (!group.suspended.has('Launch')) {
        while (group.instances.length < group.desired) {
          const n = next++;
          group.instances.push({ id: `i-${n.toString(16).padStart(8, '0')}`, state: 'Pending', ip: `10.0.0.${n}` });
        }
      }
      if (!group.suspended.has('Terminate') && group.instances.length > group.desired) {
        group.instances.splice(group.desired);
      }
      if (!group.suspended.has('AddToLoadBalancer')) {
        for (const arn of group.targetGroupArns) {
          const tg = targetGroups.get(arn)!;
          for (const instance of group.instances) {
            if (instance.state === 'InService' && !tg.targets.has(instance.id)) tg.targets.set(instance.id, 'initial');
          }
        }
      }
    }
    for (const tg of targetGroups.values()) {
      for (const [id, state] of tg.targets) {
        if (state === 'initial') tg.targets.set(id, 'healthy');
        if (state === 'draining') tg.targets.delete(id);
      }
    }
  }

  const describeGroup = (group: FakeGroup) => ({
    AutoScalingGroupName: group.name,
    LaunchTemplate: { LaunchTemplateName: group.template, Version: '$Latest' },
    MinSize: group.min,
    MaxSize: group.max,
    DesiredCapacity: group.desired,
    DefaultCooldown: 300,
    AvailabilityZones: ['eu-west-1a'],
    HealthCheckType: 'ELB',
    TargetGroupARNs: group.targetGroupArns,
    SuspendedProcesses: [...group.suspended].map((ProcessName) => ({ ProcessName })),
    Tags: group.tags,
    CreatedTime: group.created,
    Instances: group.instances.map((i) => ({
      InstanceId: i.id,
      LifecycleState: i.state,
      AvailabilityZone: 'eu-west-1a',
      HealthStatus: 'Healthy',
      ProtectedFromScaleIn: false,
    })),
  });

  const describeTargetGroup = (tg: FakeTargetGroup) => ({
    TargetGroupArn: tg.arn,
    TargetGroupName: tg.name,
    Port: tg.port,
    HealthCheckPath: tg.healthCheck.path,
    HealthCheckIntervalSeconds: tg.healthCheck.interval,
    HealthCheckTimeoutSeconds: tg.healthCheck.timeout,
    HealthyThresholdCount: tg.healthCheck.healthy,
    UnhealthyThresholdCount: tg.healthCheck.unhealthy,
  });

  ec2.on(CreateLaunchTemplateCommand).callsFake((input) => {
    if (templates.has(input.LaunchTemplateName)) throw fault('InvalidLaunchTemplateName.AlreadyExistsException');
    const template = {
      id: `lt-${next++}`,
      imageId: input.LaunchTemplateData.ImageId,
      instanceType: input.LaunchTemplateData.InstanceType,
      created: new Date(),
    };
    templates.set(input.LaunchTemplateName, template);
    return {
      LaunchTemplate: {
        LaunchTemplateId: template.id,
        LaunchTemplateName: input.LaunchTemplateName,
        CreateTime: template.created,
      },
    };
  });
  ec2.on(DescribeLaunchTemplateVersionsCommand).callsFake((input) => {
    const template = templates.get(input.LaunchTemplateName);
    if (!template) throw fault('InvalidLaunchTemplateName.NotFoundException');
    return {
      LaunchTemplateVersions: [
        {
          LaunchTemplateId: template.id,
          CreateTime: template.created,
          LaunchTemplateData: { ImageId: template.imageId, InstanceType: template.instanceType },
        },
      ],
    };
  });
  ec2.on(DeleteLaunchTemplateCommand).callsFake((input) => {
    if (!templates.delete(input.LaunchTemplateName)) throw fault('InvalidLaunchTemplateName.NotFoundException');
    return {};
  });
  ec2.on(DescribeInstancesCommand).callsFake((input) => {
    const all = [...groups.values()].flatMap((g) => g.instances);
    return {
      Reservations: [
        {
          Instances: all
            .filter((i) => input.InstanceIds.includes(i.id))
            .map((i) => ({ InstanceId: i.id, PrivateIpAddress: i.ip })),
        },
      ],
    };
  });

  asg.on(CreateAutoScalingGroupCommand).callsFake((input) => {
    if (groups.has(input.AutoScalingGroupName)) throw fault('AlreadyExistsFault');
    if (!templates.has(input.LaunchTemplate.LaunchTemplateName))
      throw fault('ValidationError', 'launch template not found');
    groups.set(input.AutoScalingGroupName, {
      name: input.AutoScalingGroupName,
      template: input.LaunchTemplate.LaunchTemplateName,
      min: input.MinSize,
      max: input.MaxSize,
      desired: input.DesiredCapacity,
      targetGroupArns: input.TargetGroupARNs ?? [],
      suspended: new Set(),
      instances: [],
      tags: input.Tags ?? [],
      created: new Date(Date.now() + groups.size),
    });
    return {};
  });
  asg.on(DescribeAutoScalingGroupsCommand).callsFake((input) => {
    const names: string[] | undefined = input.AutoScalingGroupNames;
    const cluster = input.Filters?.find((f: { Name: string }) => f.Name === 'tag:cluster')?.Values?.[0];
    const found = [...groups.values()].filter(
      (g) =>
        (!names || names.includes(g.name)) &&
        (!cluster || g.tags.some((t) => t.Key === 'cluster' && t.Value === cluster)),
    );
    return { AutoScalingGroups: found.map(describeGroup) };
  });
  asg.on(UpdateAutoScalingGroupCommand).callsFake((input) => {
    const group = groups.get(input.AutoScalingGroupName);
    if (!group) throw fault('ValidationError', 'AutoScalingGroup name not found');
    Object.assign(group, { min: input.MinSize, max: input.MaxSize, desired: input.DesiredCapacity });
    return {};
  });
  asg.on(SuspendProcessesCommand).callsFake((input) => {
    for (const process of input.ScalingProcesses) groups.get(input.AutoScalingGroupName)!.suspended.add(process);
    return {};
  });
  asg.on(ResumeProcessesCommand).callsFake((input) => {
    for (const process of input.ScalingProcesses) groups.get(input.AutoScalingGroupName)!.suspended.delete(process);
    return {};
  });
  asg.on(DeleteAutoScalingGroupCommand).callsFake((input) => {
    const group = groups.get(input.AutoScalingGroupName);
    if (!group) throw fault('ValidationError', 'AutoScalingGroup name not found');
    for (const arn of group.targetGroupArns)
      for (const i of group.instances) targetGroups.get(arn)?.targets.delete(i.id);
    groups.delete(input.AutoScalingGroupName);
    return {};
  });

  elb.on(CreateTargetGroupCommand).callsFake((input) => {
    const existing = [...targetGroups.values()].find((tg) => tg.name === input.Name);
    if (existing) return { TargetGroups: [describeTargetGroup(existing)] };
    const tg: FakeTargetGroup = {
      arn: `arn:aws:elasticloadbalancing:eu-west-1:123:targetgroup/${input.Name}/${next++}`,
      name: input.Name,
      port: input.Port,
      healthCheck: {
        path: input.HealthCheckPath,
        interval: input.HealthCheckIntervalSeconds,
        timeout: input.HealthCheckTimeoutSeconds,
        healthy: input.HealthyThresholdCount,
        unhealthy: input.UnhealthyThresholdCount,
      },
      delay: '300',
      targets: new Map(),
    };
    targetGroups.set(tg.arn, tg);
    return { TargetGroups: [describeTargetGroup(tg)] };
  });
  elb.on(ModifyTargetGroupAttributesCommand).callsFake((input) => {
    const delay = input.Attributes.find((a: { Key: string }) => a.Key === 'deregistration_delay.timeout_seconds');
    if (delay) targetGroups.get(input.TargetGroupArn)!.delay = delay.Value;
    return {};
  });
  elb.on(ModifyTargetGroupCommand).callsFake((input) => {
    const tg = targetGroups.get(input.TargetGroupArn)!;
    tg.healthCheck = {
      path: input.HealthCheckPath ?? tg.healthCheck.path,
      interval: input.HealthCheckIntervalSeconds ?? tg.healthCheck.interval,
      timeout: input.HealthCheckTimeoutSeconds ?? tg.healthCheck.timeout,
      healthy: input.HealthyThresholdCount ?? tg.healthCheck.healthy,
      unhealthy: input.UnhealthyThresholdCount ?? tg.healthCheck.unhealthy,
    };
    return { TargetGroups: [describeTargetGroup(tg)] };
  });
  elb.on(ModifyListenerCommand).callsFake((input) => {
    for (const lb of loadBalancers.values()) {
      for (const [port, arn] of lb.listeners) {
        if (`${lb.arn}/listener/${port}` === input.ListenerArn) {
          lb.listeners.delete(port);
          lb.listeners.set(input.Port, arn);
          return {};
        }
      }
    }
    throw fault('ListenerNotFoundException', 'One or more listeners not found');
  });
  elb.on(SetSecurityGroupsCommand).callsFake((input) => {
    [...loadBalancers.values()].find((l) => l.arn === input.LoadBalancerArn)!.securityGroups = input.SecurityGroups;
    return { SecurityGroupIds: input.SecurityGroups };
  });
  elb.on(DescribeTargetGroupsCommand).callsFake((input) => {
    let found = [...targetGroups.values()];
    if (input.Names) found = found.filter((tg) => input.Names.includes(tg.name));
    if (input.TargetGroupArns) found = found.filter((tg) => input.TargetGroupArns.includes(tg.arn));
    if (input.LoadBalancerArn) {
      const lb = [...loadBalancers.values()].find((l) => l.arn === input.LoadBalancerArn);
      found = found.filter((tg) => [...(lb?.listeners.values() ?? [])].includes(tg.arn));
    }
    if (input.Names && found.length === 0)
      throw fault('TargetGroupNotFoundException', 'One or more target groups not found');
    return { TargetGroups: found.map(describeTargetGroup) };
  });
  elb.on(DescribeTargetGroupAttributesCommand).callsFake((input) => ({
    Attributes: [{ Key: 'deregistration_delay.timeout_seconds', Value: targetGroups.get(input.TargetGroupArn)!.delay }],
  }));
  elb.on(CreateLoadBalancerCommand).callsFake((input) => {
    let lb = loadBalancers.get(input.Name);
    if (!lb) {
      lb = {
        arn: `arn:lb/${input.Name}`,
        name: input.Name,
        dns: `${input.Name}-1.eu-west-1.elb.amazonaws.com`,
        listeners: new Map(),
        created: new Date(),
        securityGroups: input.SecurityGroups ?? [],
      };
      loadBalancers.set(input.Name, lb);
    }
    return {
      LoadBalancers: [{ LoadBalancerArn: lb.arn, LoadBalancerName: lb.name, DNSName: lb.dns, CreatedTime: lb.created }],
    };
  });
  elb.on(DescribeLoadBalancersCommand).callsFake((input) => {
    const found = [...loadBalancers.values()].filter((lb) => !input.Names || input.Names.includes(lb.name));
    if (input.Names && found.length === 0)
      throw fault('LoadBalancerNotFoundException', 'One or more load balancers not found');
    return {
      LoadBalancers: found.map((lb) => ({
        LoadBalancerArn: lb.arn,
        LoadBalancerName: lb.name,
        DNSName: lb.dns,
        CreatedTime: lb.created,
        SecurityGroups: lb.securityGroups,
      })),
    };
  });
  elb.on(CreateListenerCommand).callsFake((input) => {
    [...loadBalancers.values()]
      .find((l) => l.arn === input.LoadBalancerArn)!
      .listeners.set(input.Port, input.DefaultActions[0].TargetGroupArn);
    return {};
  });
  elb.on(DescribeListenersCommand).callsFake((input) => {
    const lb = [...loadBalancers.values()].find((l) => l.arn === input.LoadBalancerArn)!;
    return {
      Listeners: [...lb.listeners].map(([Port, TargetGroupArn]) => ({
        ListenerArn: `${lb.arn}/listener/${Port}`,
        Port,
        DefaultActions: [{ Type: 'forward', TargetGroupArn }],
      })),
    };
  });
  elb.on(RegisterTargetsCommand).callsFake((input) => {
    const tg = targetGroups.get(input.TargetGroupArn)!;
    for (const target of input.Targets)
      if (tg.targets.get(target.Id) !== 'healthy') tg.targets.set(target.Id, 'initial');
    return {};
  });
  elb.on(DeregisterTargetsCommand).callsFake((input) => {
    const tg = targetGroups.get(input.TargetGroupArn)!;
    for (const target of input.Targets) if (tg.targets.has(target.Id)) tg.targets.set(target.Id, 'draining');
    return {};
  });
  elb.on(DescribeTargetHealthCommand).callsFake((input) => ({
    TargetHealthDescriptions: [...targetGroups.get(input.TargetGroupArn)!.targets].map(([Id, State]) => ({
      Target: { Id },
      TargetHealth: { State },
    })),
  }));

  return {
    clients: {
      ec2: new EC2Client({ region: 'eu-west-1' }),
      autoScaling: new AutoScalingClient({ region: 'eu-west-1' }),
      elb: new ElasticLoadBalancingV2Client({ region: 'eu-west-1' }),
    },
    mocks: { ec2, asg, elb },
    tick,
    restore() {
      ec2.restore();
      asg.restore();
      elb.restore();
    },
  };
}
