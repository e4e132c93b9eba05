#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include "tor_fixedpoint.h"
static int32_t ref_srdhm(int32_t a, int32_t b){ if(a==b&&a==INT32_MIN) return INT32_MAX; int64_t ab=(int64_t)a*b; int64_t n= ab>=0?(1<<30):(1-(1<<30)); return (int32_t)((ab+n)/((int64_t)1<<31)); }
static int32_t ref_rd(int32_t x,int e){ int32_t mask=(int32_t)(((uint32_t)1<<e)-1u); int32_t r=x&mask; int32_t t=(mask>>1)+(x<0?1:0); return (x>>e)+(r>t?1:0);}
static uint64_t s=88172645463325252ull; static uint32_t rnd(void){ s^=s<<13; s^=s>>7; s^=s<<17; return (uint32_t)s; }
int main(void){ long bad=0;
 int32_t sp[]={0,1,-1,2,-2,INT32_MAX,INT32_MIN,INT32_MIN+1,1<<30,-(1<<30),(1<<30)+1,-(1<<30)-1,3,-3,12345,-12345};
 int ns=sizeof sp/sizeof sp[0];
 for(int i=0;i<ns;i++) for(int j=0;j<ns;j++){ if(tor_srdhm(sp[i],sp[j])!=ref_srdhm(sp[i],sp[j])) bad++; for(int e=0;e<32;e++) if(tor_rdbypot(sp[i],e)!=ref_rd(sp[i],e)) bad++; }
 for(long k=0;k<50000000;k++){ int32_t a=(int32_t)rnd(), b=(int32_t)rnd(); if (k&1) a>>= (rnd()%31); if(tor_srdhm(a,b)!=ref_srdhm(a,b)) bad++; int e=rnd()%32; if(tor_rdbypot(a,e)!=ref_rd(a,e)) bad++; }
 printf("mismatches=%ld\n",bad); return bad!=0; }
