import type {
  DescribeSubnetsCommandInput,
  DescribeSubnetsCommandOutput,
  DescribeVpcsCommandInput,
  DescribeVpcsCommandOutput,
  Filter,
  Subnet,
  Vpc,
} from '@aws-sdk/client-ec2';
import { awsError } from './aws-errors.ts';
import { handler, SIM_NETWORK, type Output } from './model.ts';
import type { SimContext, SimHandler } from './model.ts';

/*
 * The little of EC2 the infrastructure bootstrap asks about: the region's default VPC and its
 * subnets, so that one bootstrap (src/cloud/bootstrap.ts) serves AWS and the simulation alike.
 * The network is fixed, SIM_NETWORK, as a new account's default VPC is: read-only, not stored.
 */

/** The CIDR blocks of an account's default VPC and of its first two default subnets. */
const VPC_CIDR = '172.31.0.0/16';
const SUBNET_CIDRS = ['172.31.0.0/20', '172.31.16.0/20'];

function defaultVpc(ctx: SimContext): Vpc {
  return {
    VpcId: SIM_NETWORK.vpcId,
    OwnerId: ctx.account,
    CidrBlock: VPC_CIDR,
    State: 'available',
    InstanceTenancy: 'default',
    IsDefault: true,
  };
}

/** One default subnet per availability zone, `<region>a`, `<region>b`, as elbv2.ts places them. */
function defaultSubnets(ctx: SimContext): Subnet[] {
  return SIM_NETWORK.subnets.map((subnetId, index) => ({
    SubnetId: subnetId,
    SubnetArn: `arn:aws:ec2:${ctx.region}:${ctx.account}:subnet/${subnetId}`,
    VpcId: SIM_NETWORK.vpcId,
    OwnerId: ctx.account,
    AvailabilityZone: `${ctx.region}${'ab'[index] ?? 'a'}`,
    CidrBlock: SUBNET_CIDRS[index] ?? VPC_CIDR,
    State: 'available',
    AvailableIpAddressCount: 4091,
    DefaultForAz: true,
    MapPublicIpOnLaunch: true,
  }));
}

/** The value each filter name EC2 accepts here reads off a resource, as EC2 writes it. */
type FilterFields<T> = Record<string, (resource: T) => string | undefined>;

const VPC_FILTERS: FilterFields<Vpc> = {
  'vpc-id': (vpc) => vpc.VpcId,
  'is-default': (vpc) => String(vpc.IsDefault),
  state: (vpc) => vpc.State,
  'cidr-block': (vpc) => vpc.CidrBlock,
  'owner-id': (vpc) => vpc.OwnerId,
};

const SUBNET_FILTERS: FilterFields<Subnet> = {
  'subnet-id': (subnet) => subnet.SubnetId,
  'vpc-id': (subnet) => subnet.VpcId,
  'availability-zone': (subnet) => subnet.AvailabilityZone,
  'default-for-az': (subnet) => String(subnet.DefaultForAz),
  state: (subnet) => subnet.State,
  'cidr-block': (subnet) => subnet.CidrBlock,
  'owner-id': (subnet) => subnet.OwnerId,
};

/**
 * The resources every filter matches (any of its values, exactly: the simulation takes no `*`
 * wildcards). A filter name EC2 would not know here is refused, as EC2 refuses it.
 */
function filtered<T>(
  resources: readonly T[],
  filters: readonly Filter[] | undefined,
  fields: FilterFields<T>,
): T[] {
  const checks = (filters ?? []).map((filter) => {
    const field = fields[filter.Name ?? ''];
    if (field === undefined) {
      throw awsError(
        'ec2',
        'InvalidParameterValue',
        `The filter '${filter.Name ?? ''}' is invalid`,
      );
    }
    const values = new Set(filter.Values ?? []);
    return (resource: T) => values.has(field(resource) ?? '');
  });
  return resources.filter((resource) => checks.every((check) => check(resource)));
}

/** The resources named by id, each of which must exist, as EC2 answers a missing one. */
function named<T>(
  resources: readonly T[],
  ids: readonly string[] | undefined,
  idOf: (resource: T) => string | undefined,
  notFound: (id: string) => Error,
): T[] {
  if (ids === undefined || ids.length === 0) return [...resources];
  return ids.map((id) => {
    const found = resources.find((resource) => idOf(resource) === id);
    if (found === undefined) throw notFound(id);
    return found;
  });
}

function describeVpcs(
  _tx: unknown,
  input: DescribeVpcsCommandInput,
  ctx: SimContext,
): Promise<Output<DescribeVpcsCommandOutput>> {
  const vpcs = named(
    [defaultVpc(ctx)],
    input.VpcIds,
    (vpc) => vpc.VpcId,
    (id) => awsError('ec2', 'InvalidVpcID.NotFound', `The vpc ID '${id}' does not exist`),
  );
  return Promise.resolve({ Vpcs: filtered(vpcs, input.Filters, VPC_FILTERS) });
}

function describeSubnets(
  _tx: unknown,
  input: DescribeSubnetsCommandInput,
  ctx: SimContext,
): Promise<Output<DescribeSubnetsCommandOutput>> {
  const subnets = named(
    defaultSubnets(ctx),
    input.SubnetIds,
    (subnet) => subnet.SubnetId,
    (id) => awsError('ec2', 'InvalidSubnetID.NotFound', `The subnet ID '${id}' does not exist`),
  );
  return Promise.resolve({ Subnets: filtered(subnets, input.Filters, SUBNET_FILTERS) });
}

/** The EC2 operations the simulation answers, by operation name. */
export const ec2Handlers: Record<string, SimHandler> = {
  DescribeVpcs: handler(describeVpcs),
  DescribeSubnets: handler(describeSubnets),
};
