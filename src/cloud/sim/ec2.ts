import type {
  DescribeSecurityGroupsCommandInput,
  DescribeSecurityGroupsCommandOutput,
  SecurityGroup,
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

/** One kind of resource EC2 describes: all there are, how its id reads, and its filters. */
interface Described<T> {
  all: (ctx: SimContext) => T[];
  idOf: (resource: T) => string | undefined;
  /** EC2's error code for an id it does not hold, and the name its message gives the id. */
  notFound: { code: string; idName: string };
  filters: FilterFields<T>;
}

const VPCS: Described<Vpc> = {
  all: (ctx) => [defaultVpc(ctx)],
  idOf: (vpc) => vpc.VpcId,
  notFound: { code: 'InvalidVpcID.NotFound', idName: 'vpc ID' },
  filters: {
    'vpc-id': (vpc) => vpc.VpcId,
    'is-default': (vpc) => String(vpc.IsDefault),
    state: (vpc) => vpc.State,
    'cidr-block': (vpc) => vpc.CidrBlock,
    'owner-id': (vpc) => vpc.OwnerId,
  },
};

const SUBNETS: Described<Subnet> = {
  all: defaultSubnets,
  idOf: (subnet) => subnet.SubnetId,
  notFound: { code: 'InvalidSubnetID.NotFound', idName: 'subnet ID' },
  filters: {
    'subnet-id': (subnet) => subnet.SubnetId,
    'vpc-id': (subnet) => subnet.VpcId,
    'availability-zone': (subnet) => subnet.AvailabilityZone,
    'default-for-az': (subnet) => String(subnet.DefaultForAz),
    state: (subnet) => subnet.State,
    'cidr-block': (subnet) => subnet.CidrBlock,
    'owner-id': (subnet) => subnet.OwnerId,
  },
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

/**
 * The resources named by id (each must exist, as EC2 answers a missing one), or all of them
 * when none is named, then those the filters match.
 */
function describe<T>(
  kind: Described<T>,
  ctx: SimContext,
  ids: readonly string[] | undefined,
  filters: readonly Filter[] | undefined,
): T[] {
  const resources = kind.all(ctx);
  const named =
    ids === undefined || ids.length === 0
      ? resources
      : ids.map((id) => {
          const found = resources.find((resource) => kind.idOf(resource) === id);
          if (found === undefined) {
            const { code, idName } = kind.notFound;
            throw awsError('ec2', code, `The ${idName} '${id}' does not exist`);
          }
          return found;
        });
  return filtered(named, filters, kind.filters);
}

/** The default VPC's default security group, `default`, as every VPC has one. */
function defaultSecurityGroups(ctx: SimContext): SecurityGroup[] {
  return SIM_NETWORK.securityGroups.map((groupId) => ({
    GroupId: groupId,
    GroupName: 'default',
    Description: 'default VPC security group',
    VpcId: SIM_NETWORK.vpcId,
    OwnerId: ctx.account,
    SecurityGroupArn: `arn:aws:ec2:${ctx.region}:${ctx.account}:security-group/${groupId}`,
    IpPermissions: [],
    IpPermissionsEgress: [],
  }));
}

const SECURITY_GROUPS: Described<SecurityGroup> = {
  all: defaultSecurityGroups,
  idOf: (group) => group.GroupId,
  notFound: { code: 'InvalidGroup.NotFound', idName: 'security group' },
  filters: {
    'group-id': (group) => group.GroupId,
    'group-name': (group) => group.GroupName,
    'vpc-id': (group) => group.VpcId,
    'owner-id': (group) => group.OwnerId,
  },
};

/** The EC2 operations the simulation answers, by operation name. */
export const ec2Handlers: Record<string, SimHandler> = {
  DescribeVpcs: handler(
    (_tx, input: DescribeVpcsCommandInput, ctx): Promise<Output<DescribeVpcsCommandOutput>> =>
      Promise.resolve({ Vpcs: describe(VPCS, ctx, input.VpcIds, input.Filters) }),
  ),
  DescribeSubnets: handler(
    (_tx, input: DescribeSubnetsCommandInput, ctx): Promise<Output<DescribeSubnetsCommandOutput>> =>
      Promise.resolve({ Subnets: describe(SUBNETS, ctx, input.SubnetIds, input.Filters) }),
  ),
  DescribeSecurityGroups: handler(
    (
      _tx,
      input: DescribeSecurityGroupsCommandInput,
      ctx,
    ): Promise<Output<DescribeSecurityGroupsCommandOutput>> =>
      Promise.resolve({
        SecurityGroups: describe(SECURITY_GROUPS, ctx, input.GroupIds, input.Filters),
      }),
  ),
};
